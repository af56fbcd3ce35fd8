package daemon

import (
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/bpfilter-go/bpfilter/internal/testenv"
)

// pendingOnDisk reports whether the saved context (snapshot and journal)
// holds an update written ahead and not committed.
func pendingOnDisk(ctxFile string) bool {
	sc, err := readContext(ctxFile)
	return err == nil && sc.Pending != nil
}

// TestE2ERuleEdits: bfcli rule insert, replace and delete change the
// attached chain's filtering, keep the counters of the other rules,
// refuse bad edits with the chain unchanged, and survive a restart and a
// kill -9 (journal replay).
func TestE2ERuleEdits(t *testing.T) {
	e := newE2E(t, "--no-iptables")
	a, b := testenv.NewNetns(t), testenv.NewNetns(t)
	v := testenv.NewVethPair(t, a, b, "198.18.26.1/24", "198.18.26.2/24")
	e.start()
	e.mustBfcli(a, "chain", "set", "-s", fmt.Sprintf(`chain r BF_HOOK_XDP{iface=%s} ACCEPT
		set quiet (ip4.saddr) in { 198.18.99.1 }
		rule udp.dport 9 counter DROP
		rule ip4.proto icmp counter ACCEPT`, v.NameA))
	if n := pings(t, b, v.AddrA.Addr(), 2); n != 2 {
		t.Fatalf("%d of 2 pings answered before the edits", n)
	}
	e.mustBfcli(a, "rule", "insert", "--chain", "r", "--index", "1", "-s", "rule (ip4.saddr) in quiet counter DROP rule ip4.saddr 198.18.26.2 counter DROP", "--expect-rules", "2")
	if n := pings(t, b, v.AddrA.Addr(), 2); n != 0 {
		t.Fatalf("%d pings answered after inserting a DROP rule", n)
	}
	c := e.chains(a)["r"]
	if len(c.Chain.Rules) != 4 || c.Counters.Rules[2].Packets < 2 {
		t.Fatalf("after insert: %d rules, counters %+v", len(c.Chain.Rules), c.Counters)
	}
	// Refused edits change nothing.
	for _, bad := range []struct {
		args []string
		msg  string
	}{
		{[]string{"rule", "delete", "--chain", "r", "--index", "4"}, "index"},
		{[]string{"rule", "delete", "--chain", "nope", "--index", "0"}, "chain nope does not exist"},
		{[]string{"rule", "insert", "--chain", "r", "--index", "0", "-s", "rule ip4.sadr 1.2.3.4 DROP"}, "<edit 0>:1:6"},
		{[]string{"rule", "insert", "--chain", "r", "--index", "0", "-s", "rule (ip4.saddr) in nosuch DROP"}, "nosuch"},
		{[]string{"rule", "insert", "--chain", "r", "--index", "0", "-s", "rule (ip4.daddr) in { 198.18.0.1; 198.18.0.2 } DROP"}, "anonymous sets"},
		{[]string{"rule", "replace", "--chain", "r", "--index", "0", "-s", "rule udp.dport 9 DROP", "--expect-rules", "2"}, "changed since"},
	} {
		_, err := e.bfcli(a, bad.args...)
		if err == nil || !strings.Contains(err.Error(), bad.msg) {
			t.Fatalf("bfcli %q: %v, want an error with %q", bad.args, err, bad.msg)
		}
		t.Log(err)
	}
	if got := e.chains(a)["r"]; len(got.Chain.Rules) != 4 || got.Counters.Rules[2].Packets != c.Counters.Rules[2].Packets {
		t.Fatalf("a refused edit changed the chain: %d rules", len(got.Chain.Rules))
	}
	e.mustBfcli(a, "rule", "replace", "--chain", "r", "--index", "2", "-s", "rule ip4.saddr 198.18.26.3 counter DROP")
	if n := pings(t, b, v.AddrA.Addr(), 2); n != 2 {
		t.Fatalf("%d of 2 pings answered after replacing the DROP rule", n)
	}
	e.mustBfcli(a, "rule", "insert", "--chain", "r", "--index", "0", "-s", "rule ip4.proto icmp counter DROP")
	// Killed right after: the edit was committed before bfcli returned.
	e.cmd.Process.Kill()
	<-e.exited
	e.start()
	c = e.chains(a)["r"]
	if len(c.Chain.Rules) != 5 || !c.Attached {
		t.Fatalf("after kill -9 and restart: %d rules, attached %v", len(c.Chain.Rules), c.Attached)
	}
	if n := pings(t, b, v.AddrA.Addr(), 2); n != 0 {
		t.Fatalf("%d pings answered with the inserted DROP rule in force", n)
	}
	e.mustBfcli(a, "rule", "delete", "--chain", "r", "--index", "0", "--count", "1")
	if n := pings(t, b, v.AddrA.Addr(), 2); n != 2 {
		t.Fatalf("%d of 2 pings answered after deleting the DROP rule", n)
	}
	icmp := e.chains(a)["r"].Counters.Rules[3].Packets
	if err := e.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("daemon exit: %v: %s", err, e.out)
	}
	e.start()
	c = e.chains(a)["r"]
	if len(c.Chain.Rules) != 4 || c.Counters.Rules[3].Packets < icmp || icmp < 4 {
		t.Fatalf("after restart: %d rules, icmp counter %d (was %d)", len(c.Chain.Rules), c.Counters.Rules[3].Packets, icmp)
	}
}
