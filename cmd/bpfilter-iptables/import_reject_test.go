package main

import (
	"strings"
	"testing"

	"github.com/bpfilter-go/bpfilter/compat/iptables"
	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
)

func TestRejectToDrop(t *testing.T) {
	ts := iptables.NewTables(abi.IPv4)
	text := "*filter\n:in - [0:0]\n-A INPUT -p tcp --dport 23 -j REJECT --reject-with tcp-reset\n-A INPUT -j in\n-A in -p udp -j REJECT\n-A in -j DROP\nCOMMIT\n"
	if err := ts.Restore(strings.NewReader(text), iptables.RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	tb, err := ts.Table("filter")
	if err != nil {
		t.Fatal(err)
	}
	var warn strings.Builder
	if n := rejectToDrop(abi.IPv4, "iptables", tb, &warn); n != 2 {
		t.Errorf("%d rules changed, want 2", n)
	}
	for _, want := range []string{
		"iptables: warning: -A INPUT -p tcp -m tcp --dport 23 -j REJECT --reject-with tcp-reset (rule 1) imported as DROP",
		"iptables: warning: -A in -p udp -j REJECT --reject-with icmp-port-unreachable (rule 1) imported as DROP",
	} {
		if !strings.Contains(warn.String(), want) {
			t.Errorf("warnings lack %q:\n%s", want, warn.String())
		}
	}
	var rules []string
	for _, c := range tb.Chains {
		for _, r := range c.Rules {
			rules = append(rules, "-A "+c.Name+" "+iptables.RuleString(abi.IPv4, r))
		}
	}
	got := strings.Join(rules, "\n")
	want := "-A INPUT -p tcp -m tcp --dport 23 -j DROP\n-A INPUT -j in\n-A in -p udp -j DROP\n-A in -j DROP"
	if got != want {
		t.Errorf("rules after rejectToDrop:\n%s\nwant:\n%s", got, want)
	}
}
