package daemon

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bpfilter-go/bpfilter/daemon/client"
	"github.com/bpfilter-go/bpfilter/daemon/proto"
	"github.com/bpfilter-go/bpfilter/internal/testenv"
	"github.com/bpfilter-go/bpfilter/ir"
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

// TestE2EKill9DuringRuleEdits kills the daemon at random moments of
// bfcli rule inserts (each puts an ICMP ACCEPT or DROP rule first): after
// the restart the chain holds the old or the new rule list, the kernel
// filters as its first rule says, and the counters of the other rules
// are kept.
func TestE2EKill9DuringRuleEdits(t *testing.T) {
	e := newE2E(t, "--no-iptables")
	a, b := testenv.NewNetns(t), testenv.NewNetns(t)
	v := testenv.NewVethPair(t, a, b, "198.18.27.1/24", "198.18.27.2/24")
	var sb strings.Builder
	fmt.Fprintf(&sb, "chain k BF_HOOK_XDP{iface=%s} ACCEPT\n    rule ip4.proto icmp counter ACCEPT\n", v.NameA)
	for p := range 300 {
		fmt.Fprintf(&sb, "    rule udp.dport %d counter DROP\n", 10000+p)
	}
	e.start()
	e.mustBfcli(a, "chain", "set", "-f", writeFile(t, sb.String()))
	cur := 301
	counted := uint64(0)
	rng := rand.New(rand.NewPCG(3, 4))
	ctxFile := filepath.Join(e.run, ContextFileName)
	for round := 1; round <= 12; round++ {
		verdict := "DROP"
		if round%2 == 0 {
			verdict = "ACCEPT"
		}
		// The request goes from the test process itself (no bfcli start-up
		// time), so the kill lands within the update.
		cl, err := client.Dial(e.run)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			done <- cl.UpdateRules(proto.FrontCLI, "k", []proto.RuleEdit{{Op: proto.EditInsert, Text: "rule ip4.proto icmp counter " + verdict}}, -1, false)
		}()
		time.Sleep(time.Duration(rng.IntN(4000)) * time.Microsecond)
		e.cmd.Process.Kill()
		<-e.exited
		answered := <-done == nil
		cl.Close()
		pending := pendingOnDisk(ctxFile)
		e.start()
		c, ok := e.chains(a)["k"]
		if !ok || !c.Attached {
			t.Fatalf("round %d: chain missing after restart", round)
		}
		n := len(c.Chain.Rules)
		if n != cur && n != cur+1 || answered && n != cur+1 {
			t.Fatalf("round %d: %d rules after restart, want %d or %d (answered: %v)", round, n, cur, cur+1, answered)
		}
		want := 2
		if c.Chain.Rules[0].Verdict.Kind == ir.Drop {
			want = 0
		}
		if got := pings(t, b, v.AddrA.Addr(), 2); got != want {
			t.Fatalf("round %d: first rule %s, but %d of 2 pings answered; daemon log:\n%s", round, c.Chain.Rules[0].Verdict.Kind, got, e.out)
		}
		// Every ping so far was counted by the rule first at the time:
		// the total survives the kills.
		after := e.chains(a)["k"].Counters
		total := uint64(0)
		for _, r := range after.Rules {
			total += r.Packets
		}
		if total < counted+2 {
			t.Fatalf("round %d: %d packets counted, want at least %d", round, total, counted+2)
		}
		counted = total
		t.Logf("round %d: killed during insert %d→%d (answered: %v, pending update on disk: %v), %d rules in force", round, cur, cur+1, answered, pending, n)
		cur = n
	}
	if des, _ := os.ReadDir(filepath.Join(e.bpffs, PinDirName)); len(des) != 1 {
		t.Fatalf("%d pin directories, want 1", len(des))
	}
}
