package daemon

import (
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/bpfilter-go/bpfilter/compat/nfsemantics"
	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
	"github.com/bpfilter-go/bpfilter/internal/testenv"
)

// tryIptRestore is iptRestore returning the failure instead of failing.
func (e *e2eEnv) tryIptRestore(ns *testenv.Netns, text string) (string, error) {
	return e.tryRestore(ns, abi.IPv4, text)
}

// nftScript loads an nft script in ns.
func nftScript(t *testing.T, ns *testenv.Netns, script string) {
	t.Helper()
	cmd := exec.Command("nsenter", "--net="+ns.Path, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft -f: %v: %s", err, out)
	}
}

// TestE2EConntrackKeeperForeign: a table named like the keeper that the
// daemon did not create is neither adopted nor deleted: a ruleset that
// needs conntrack is refused naming the table, nothing changes, rulesets
// that do not need it still load, and the table outlives a transient
// daemon.
func TestE2EConntrackKeeperForeign(t *testing.T) {
	testenv.RequireCommand(t, "nft")
	e := newE2E(t, "--transient")
	foreign := "table inet " + nfsemantics.ConntrackKeeperTable + " {\nchain keep {\nct state new counter\n}\n}\n"
	nftScript(t, e.ns, foreign)
	list := func() string { return e.ns.Exec(t, "nft", "list", "table", "inet", nfsemantics.ConntrackKeeperTable) }
	before := list()
	e.start()
	e.iptRestore(e.ns, noCtRuleset)
	chainsBefore := fmt.Sprint(e.chains(e.ns))
	out, err := e.tryIptRestore(e.ns, ctRuleset)
	if err == nil || !strings.Contains(out, "not created by bpfilter") || !strings.Contains(out, nfsemantics.ConntrackKeeperTable) {
		t.Fatalf("a ruleset needing conntrack with a foreign keeper table: err %v, output:\n%s", err, out)
	}
	t.Logf("refused: %s", strings.TrimSpace(out))
	if got := fmt.Sprint(e.chains(e.ns)); got != chainsBefore {
		t.Errorf("the refused ruleset changed the chains:\n%s\nwas:\n%s", got, chainsBefore)
	}
	if after := list(); after != before {
		t.Errorf("the foreign table changed:\n%s\nwas:\n%s", after, before)
	}
	e.iptRestore(e.ns, emptyRuleset)
	if err := e.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("daemon stop: %v: %s", err, e.out)
	}
	if !hasKeeper(t, e.ns) {
		t.Fatal("the transient daemon deleted the foreign table")
	}
	if after := list(); after != before {
		t.Errorf("the foreign table changed after the daemon stopped:\n%s\nwas:\n%s", after, before)
	}
}
