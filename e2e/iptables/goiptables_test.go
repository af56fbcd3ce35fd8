package iptablese2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	goipt "github.com/coreos/go-iptables/iptables"
)

// goIptables returns a go-iptables handle whose binary is bpfilter's
// iptables (or ip6tables) run in the daemon's namespace: a two-line
// wrapper script entering the namespace, as a host would have the
// binary itself on its PATH.
func goIptables(t *testing.T, d *daemon, tool string, proto goipt.Protocol) *goipt.IPTables {
	t.Helper()
	script := filepath.Join(t.TempDir(), tool)
	body := fmt.Sprintf("#!/bin/sh\nexec nsenter --net=%s env BPFILTER_RUNTIME_DIR=%s %s \"$@\"\n", d.ns.Path, d.run, filepath.Join(binDir, tool))
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	ipt, err := goipt.New(goipt.Path(script), goipt.IPFamily(proto), goipt.Timeout(5))
	if err != nil {
		t.Fatalf("go-iptables New: %v", err)
	}
	return ipt
}

// TestGoIptables drives bpfilter through github.com/coreos/go-iptables and
// checks the traffic its changes let through.
func TestGoIptables(t *testing.T) {
	e := newTrafficEnv(t, "--transient")
	ipt := goIptables(t, e.d, "iptables", goipt.ProtocolIPv4)
	ok := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	delivered := func(port uint16, want int) {
		t.Helper()
		if n := e.udp(t, false, port, 3); n != want {
			t.Errorf("udp %d: %d/3 delivered, want %d", port, n, want)
		}
	}
	ok(ipt.NewChain("filter", "GOIPT"))
	ok(ipt.Append("filter", "GOIPT", "-p", "udp", "--dport", "9000", "-j", "DROP"))
	ok(ipt.Append("filter", "INPUT", "-s", "198.18.0.0/24", "-j", "GOIPT"))
	ok(ipt.Insert("filter", "GOIPT", 1, "-p", "udp", "--dport", "9001", "-j", "DROP"))
	if ex, err := ipt.Exists("filter", "GOIPT", "-p", "udp", "--dport", "9001", "-j", "DROP"); err != nil || !ex {
		t.Fatalf("Exists: %v %v", ex, err)
	}
	if ex, err := ipt.Exists("filter", "GOIPT", "-p", "udp", "--dport", "9009", "-j", "DROP"); err != nil || ex {
		t.Fatalf("Exists of an absent rule: %v %v", ex, err)
	}
	delivered(9000, 0)
	delivered(9001, 0)
	delivered(9002, 3)
	rules, err := ipt.List("filter", "GOIPT")
	ok(err)
	want := []string{"-N GOIPT", "-A GOIPT -p udp -m udp --dport 9001 -j DROP", "-A GOIPT -p udp -m udp --dport 9000 -j DROP"}
	if !slices.Equal(rules, want) {
		t.Errorf("List: %q, want %q", rules, want)
	}
	rules, err = ipt.ListWithCounters("filter", "GOIPT")
	ok(err)
	if len(rules) != 3 || !strings.HasSuffix(rules[1], "-c 3 ") && !strings.Contains(rules[1], "-c 3 ") {
		t.Errorf("ListWithCounters: %q, want 3 packets on the first rule", rules)
	}
	stats, err := ipt.Stats("filter", "INPUT")
	ok(err)
	if len(stats) != 1 || stats[0][0] != "9" || stats[0][2] != "GOIPT" {
		t.Errorf("Stats(INPUT): %q, want 9 packets to GOIPT", stats)
	}
	ok(ipt.Delete("filter", "GOIPT", "-p", "udp", "--dport", "9001", "-j", "DROP"))
	delivered(9001, 3)
	ok(ipt.ChangePolicy("filter", "INPUT", "DROP"))
	delivered(9002, 0)
	ok(ipt.ChangePolicy("filter", "INPUT", "ACCEPT"))
	delivered(9002, 3)
	ok(ipt.RenameChain("filter", "GOIPT", "GOIPT2"))
	rules, err = ipt.List("filter", "INPUT")
	ok(err)
	if !slices.Contains(rules, "-A INPUT -s 198.18.0.0/24 -j GOIPT2") {
		t.Errorf("after RenameChain, INPUT is %q", rules)
	}
	delivered(9000, 0)
	ok(ipt.ClearChain("filter", "GOIPT2"))
	delivered(9000, 3)
	if err := ipt.DeleteChain("filter", "GOIPT2"); err == nil {
		t.Error("DeleteChain of a referenced chain succeeded")
	}
	ok(ipt.Delete("filter", "INPUT", "-s", "198.18.0.0/24", "-j", "GOIPT2"))
	ok(ipt.DeleteChain("filter", "GOIPT2"))
	chains, err := ipt.ListChains("filter")
	ok(err)
	if !slices.Equal(chains, []string{"INPUT", "FORWARD", "OUTPUT"}) {
		t.Errorf("ListChains: %q", chains)
	}
	if ex, err := ipt.ChainExists("filter", "GOIPT2"); err != nil || ex {
		t.Errorf("ChainExists after DeleteChain: %v %v", ex, err)
	}
	// Errors come back as iptables exit statuses.
	err = ipt.Append("filter", "NOPE", "-j", "ACCEPT")
	if e, isErr := err.(*goipt.Error); !isErr || e.ExitStatus() != 1 && e.ExitStatus() != 2 {
		t.Errorf("append to a missing chain: %v", err)
	}
	// IPv6 through ip6tables.
	ip6 := goIptables(t, e.d, "ip6tables", goipt.ProtocolIPv6)
	ok(ip6.Append("filter", "INPUT", "-p", "udp", "--dport", "9003", "-j", "DROP"))
	if n := e.udp(t, true, 9003, 3); n != 0 {
		t.Errorf("ip6tables DROP: %d/3 delivered", n)
	}
	delivered(9003, 3)
}
