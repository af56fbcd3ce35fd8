package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/bpfilter-go/bpfilter/internal/testenv"
)

// TestE2EInPlaceUpdateRestart: through the daemon binary in standard mode,
// with a chain attached to XDP on a veth: chain update (one rule changed,
// then one inserted) and update-set are written in place (debug log), the
// counters keep counting, and after a restart — the pins changed by an
// insertion are refused by the engine, so the daemon reloads the chain
// from its IR into the pinned link — the chain filters with its counters.
func TestE2EInPlaceUpdateRestart(t *testing.T) {
	e := newE2E(t, "--no-iptables", "-v", "debug")
	a, b := testenv.NewNetns(t), testenv.NewNetns(t)
	v := testenv.NewVethPair(t, a, b, "198.18.26.1/24", "198.18.26.2/24")
	version := func(extra string, changed int) string {
		var sb strings.Builder
		fmt.Fprintf(&sb, "chain ip BF_HOOK_XDP{iface=%s} ACCEPT\n  set blk (ip4.saddr) in { 198.18.99.1 }\n%s", v.NameA, extra)
		for i := range 300 {
			port := 20000 + i
			if i == 150 {
				port += changed
			}
			fmt.Fprintf(&sb, "  rule udp.dport %d counter DROP\n", port)
		}
		sb.WriteString("  rule (ip4.saddr) in blk counter DROP\n  rule ip4.proto icmp counter ACCEPT\n")
		return sb.String()
	}
	e.start()
	e.mustBfcli(a, "chain", "set", "-f", writeFile(t, version("", 0)))
	icmp := func() uint64 {
		t.Helper()
		c := e.chains(a)["ip"]
		return c.Counters.Rules[len(c.Chain.Rules)-1].Packets
	}
	if n := pings(t, b, v.AddrA.Addr(), 3); n != 3 {
		t.Fatalf("%d of 3 pings answered", n)
	}
	inPlace := func(what string, want int) {
		t.Helper()
		if got := strings.Count(e.out.String(), "chain updated in place"); got != want {
			t.Fatalf("after %s: %d in-place updates logged, want %d:\n%s", what, got, want, e.out)
		}
	}
	e.mustBfcli(a, "chain", "update", "-f", writeFile(t, version("", 1000)))
	inPlace("a one-rule change", 1)
	e.mustBfcli(a, "chain", "update", "-f", writeFile(t, version("  rule udp.dport 9999 counter DROP\n", 1000)))
	inPlace("an insertion", 2)
	e.mustBfcli(a, "chain", "update-set", "--name", "ip", "--set-name", "blk", "--add", v.AddrB.Addr().String())
	inPlace("update-set", 3)
	if n := pings(t, b, v.AddrA.Addr(), 2); n != 0 {
		t.Fatalf("%d pings through the set added in place", n)
	}
	e.mustBfcli(a, "chain", "update-set", "--name", "ip", "--set-name", "blk", "--remove", v.AddrB.Addr().String())
	if n := pings(t, b, v.AddrA.Addr(), 2); n != 2 {
		t.Fatalf("%d of 2 pings answered after the element was removed", n)
	}
	if got := icmp(); got < 5 {
		t.Fatalf("icmp rule counted %d, want at least 5 (counters lost by in-place updates)", got)
	}
	before := e.chains(a)["ip"]
	if err := e.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("daemon exit: %v: %s", err, e.out)
	}
	e.start()
	after := e.chains(a)["ip"]
	if !after.Attached || len(after.Chain.Rules) != len(before.Chain.Rules) {
		t.Fatalf("restored chain differs: attached %v, %d rules (want %d)", after.Attached, len(after.Chain.Rules), len(before.Chain.Rules))
	}
	if !strings.Contains(e.out.String(), "reloaded a chain changed in place") {
		t.Fatalf("the restart did not reload the chain changed in place:\n%s", e.out)
	}
	last := len(after.Chain.Rules) - 1
	if got, want := after.Counters.Rules[last].Packets, before.Counters.Rules[last].Packets; got < want {
		t.Fatalf("icmp rule counted %d after restart, want at least %d", got, want)
	}
	if n := pings(t, b, v.AddrA.Addr(), 2); n != 2 {
		t.Fatalf("%d of 2 pings answered after restart", n)
	}
	if got, want := icmp(), before.Counters.Rules[last].Packets+2; got < want {
		t.Fatalf("icmp rule counted %d after restart and 2 pings, want at least %d", got, want)
	}
	e.mustBfcli(a, "chain", "update-set", "--name", "ip", "--set-name", "blk", "--add", v.AddrB.Addr().String())
	if n := pings(t, b, v.AddrA.Addr(), 2); n != 0 {
		t.Fatalf("%d pings through after restart and update-set", n)
	}
	if des, _ := os.ReadDir(filepath.Join(e.bpffs, PinDirName)); len(des) != 1 {
		t.Fatalf("%d pin directories, want 1", len(des))
	}
	e.mustBfcli(a, "ruleset", "flush")
}
