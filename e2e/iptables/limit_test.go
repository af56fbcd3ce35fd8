package iptablese2e

import (
	"fmt"
	"strings"
	"testing"
)

// TestLimitThroughDaemon: -m limit through bpfilter-iptables and the
// daemon: the burst passes, the counters and listings are iptables', and
// a later change of the table (iptables replaces it whole) starts the
// bucket full again, as the kernel does.
func TestLimitThroughDaemon(t *testing.T) {
	e := newTrafficEnv(t, "--transient")
	d := e.d
	d.mustTool("iptables", "-A", "INPUT", "-p", "udp", "--dport", "9100", "-m", "limit", "--limit", "1/min", "--limit-burst", "4", "-j", "ACCEPT")
	d.mustTool("iptables", "-A", "INPUT", "-p", "udp", "--dport", "9100", "-j", "DROP")
	if n := e.udp(t, false, 9100, 10); n != 4 {
		t.Errorf("burst of 4: %d/10 delivered", n)
	}
	if c := ruleCounters(t, d, "iptables", "INPUT"); fmt.Sprint(c) != "[4 6]" {
		t.Errorf("INPUT counters %v, want [4 6]", c)
	}
	if s := d.mustTool("iptables", "-S", "INPUT"); !strings.Contains(s, "-A INPUT -p udp -m udp --dport 9100 -m limit --limit 1/min --limit-burst 4 -j ACCEPT") {
		t.Errorf("-S:\n%s", s)
	}
	if l := d.mustTool("iptables", "-L", "INPUT", "-n"); !strings.Contains(l, "limit: avg 1/min burst 4") {
		t.Errorf("-L:\n%s", l)
	}
	if n := e.udp(t, false, 9100, 3); n != 0 {
		t.Errorf("empty bucket: %d/3 delivered", n)
	}
	d.mustTool("iptables", "-A", "INPUT", "-p", "udp", "--dport", "9101", "-j", "DROP")
	n := e.udp(t, false, 9100, 10)
	t.Logf("after appending a rule: %d/10 delivered", n)
	if n != 4 {
		t.Errorf("after a table replace: %d/10 delivered, want a full bucket of 4 (the kernel resets it)", n)
	}
}
