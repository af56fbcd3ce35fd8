package main

import (
	"fmt"
	"io"

	"github.com/bpfilter-go/bpfilter/compat/iptables"
	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
)

// rejectToDrop replaces the REJECT target of every rule of t by DROP and
// writes a warning naming each rule to warn: a netfilter BPF program can
// only return a verdict, it cannot send the ICMP error or TCP reset.
// It returns the number of rules changed.
func rejectToDrop(fam abi.Family, tool string, t *abi.Table, warn io.Writer) int {
	n := 0
	for _, c := range t.Chains {
		for i, r := range c.Rules {
			if r.Target.Kind != abi.TargetExtension || r.Target.Name != "REJECT" {
				continue
			}
			fmt.Fprintf(warn, "%s: warning: -A %s %s (rule %d) imported as DROP: bpfilter cannot send the ICMP error or TCP reset of REJECT\n",
				tool, c.Name, iptables.RuleString(fam, r), i+1)
			r.Target = abi.Target{Kind: abi.TargetVerdict, Verdict: abi.VerdictDrop}
			n++
		}
	}
	return n
}
