package iptables

import (
	"fmt"
	"io"
	"strings"

	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
)

// Version is what --version prints after the program name.
const Version = "v1.8.9 (bpfilter)"

// Do applies a parsed command to the tables, writing listings to out. A
// failing command leaves the tables unchanged.
func (ts *Tables) Do(cmd *Command, out io.Writer) error {
	switch cmd.Op {
	case 'V':
		_, err := io.WriteString(out, famCmd(ts.Family)+" "+Version+"\n")
		return err
	case 'h':
		return ts.help(out, cmd)
	}
	orig, err := ts.Table(cmd.Table)
	if err != nil {
		return err
	}
	switch cmd.Op {
	case 'L':
		// iptables lists nothing for -L -Z CHAIN NUM; it only zeroes
		// that rule.
		if !cmd.ZeroNum {
			if err := ts.list(out, orig, cmd); err != nil {
				return err
			}
		}
		if cmd.ListZero {
			ts.markCounters(orig.Name)
			z := *cmd
			if !cmd.ZeroNum {
				z.RuleNum = 0
			}
			return ts.zero(orig, &z, out)
		}
		return nil
	case 'S':
		return ts.listRules(out, orig, cmd)
	}
	// A restore's scratch tables are thrown away on failure, so they are
	// changed in place; anything else works on a copy.
	t := orig
	if !ts.deferChecks {
		t = cloneTable(orig)
	}
	if err := ts.apply(t, cmd, out); err != nil {
		return err
	}
	if !ts.deferChecks {
		if err := checkTable(ts.Family, t); err != nil {
			return err
		}
	}
	ts.tables[t.Name] = t
	if cmd.Op == 'Z' || (cmd.Spec != nil && cmd.Spec.Counters != (abi.Counters{})) {
		ts.markCounters(t.Name)
	}
	return nil
}

func (ts *Tables) markCounters(name string) {
	if ts.countersChanged == nil {
		ts.countersChanged = map[string]bool{}
	}
	ts.countersChanged[name] = true
}

func (ts *Tables) chain(t *abi.Table, name string) (*abi.Chain, error) {
	c := t.Chain(name)
	if c == nil {
		return nil, errNoChain
	}
	return c, nil
}

func (ts *Tables) apply(t *abi.Table, cmd *Command, out io.Writer) error {
	fam := ts.Family
	switch cmd.Op {
	case 'A', 'I', 'R', 'D', 'C':
		c, err := ts.chain(t, cmd.Chain)
		if err != nil {
			return err
		}
		if cmd.Op == 'D' && cmd.Spec == nil {
			if cmd.RuleNum > len(c.Rules) {
				return errBadIndex
			}
			c.Rules = append(c.Rules[:cmd.RuleNum-1], c.Rules[cmd.RuleNum:]...)
			return nil
		}
		rules, err := buildRules(fam, cmd.Spec, t)
		if err != nil {
			return err
		}
		if cmd.Verbose {
			for _, r := range rules {
				writeRuleLine(out, fam, r)
			}
		}
		for _, r := range rules {
			if r.Target.Kind == abi.TargetJump {
				if err := checkLoop(t, c.Name, r.Target.Chain); err != nil {
					return err
				}
			}
		}
		switch cmd.Op {
		case 'A':
			c.Rules = append(c.Rules, rules...)
		case 'I':
			n := max(cmd.RuleNum, 1)
			if n > len(c.Rules)+1 {
				return otherErr("Index of insertion too big.")
			}
			for i, r := range rules {
				pos := n - 1 + i
				c.Rules = append(c.Rules[:pos], append([]*abi.Rule{r}, c.Rules[pos:]...)...)
			}
		case 'R':
			if len(rules) != 1 {
				return paramErr("Replacement rule does not specify a unique address")
			}
			if cmd.RuleNum > len(c.Rules) {
				return otherErr("Index of replacement too big.")
			}
			c.Rules[cmd.RuleNum-1] = rules[0]
		case 'D', 'C':
			for _, r := range rules {
				found := -1
				for i, o := range c.Rules {
					if sameRule(fam, r, o) {
						found = i
						break
					}
				}
				if found < 0 {
					return errBadRule
				}
				if cmd.Op == 'D' {
					c.Rules = append(c.Rules[:found], c.Rules[found+1:]...)
				}
			}
		}
		return nil
	case 'N':
		if t.Chain(cmd.Chain) != nil {
			return errChainExists
		}
		insertChain(t, &abi.Chain{Name: cmd.Chain, Hook: -1})
		return nil
	case 'X':
		if cmd.Chain != "" {
			c, err := ts.chain(t, cmd.Chain)
			if err != nil {
				return err
			}
			if c.Builtin() {
				return errInvalidArg
			}
			if cmd.Verbose {
				fmt.Fprintf(out, "Deleting chain `%s'\n", c.Name)
			}
			return deleteChain(t, c)
		}
		// Without a name every user chain is tried in order; like
		// iptables, the last failure is reported and nothing is committed.
		var last error
		for _, c := range append([]*abi.Chain(nil), t.Chains...) {
			if c.Builtin() {
				continue
			}
			if cmd.Verbose {
				fmt.Fprintf(out, "Deleting chain `%s'\n", c.Name)
			}
			if err := deleteChain(t, c); err != nil {
				last = err
			}
		}
		return last
	case 'E':
		if t.Chain(cmd.NewName) != nil {
			return otherErr("File exists.")
		}
		c, err := ts.chain(t, cmd.Chain)
		if err != nil {
			return err
		}
		if c.Builtin() {
			return errInvalidArg
		}
		old := c.Name
		removeChain(t, c)
		c.Name = cmd.NewName
		insertChain(t, c)
		for _, o := range t.Chains {
			for _, r := range o.Rules {
				if r.Target.Kind == abi.TargetJump && r.Target.Chain == old {
					r.Target.Chain = cmd.NewName
				}
			}
		}
		return nil
	case 'F':
		chains := t.Chains
		if cmd.Chain != "" {
			c, err := ts.chain(t, cmd.Chain)
			if err != nil {
				return err
			}
			chains = []*abi.Chain{c}
		}
		for _, c := range chains {
			if cmd.Verbose {
				fmt.Fprintf(out, "Flushing chain `%s'\n", c.Name)
			}
			c.Rules = nil
		}
		return nil
	case 'Z':
		return ts.zeroIn(t, cmd, io.Discard)
	case 'P':
		c := t.Chain(cmd.Chain)
		if c == nil {
			return errNoChain
		}
		if !c.Builtin() {
			return otherErr("Bad built-in chain name.")
		}
		v, ok := abi.VerdictByName(cmd.Policy)
		if !ok || (v != abi.VerdictAccept && v != abi.VerdictDrop) {
			return otherErr("Bad policy name. Run `dmesg' for more information.")
		}
		c.Policy = v
		return nil
	}
	return paramErr("unsupported command -%c", cmd.Op)
}

func (ts *Tables) zero(orig *abi.Table, cmd *Command, out io.Writer) error {
	t := cloneTable(orig)
	if err := ts.zeroIn(t, cmd, out); err != nil {
		return err
	}
	ts.tables[t.Name] = t
	return nil
}

// zeroIn zeroes counters; with -v it reports each chain like iptables.
func (ts *Tables) zeroIn(t *abi.Table, cmd *Command, out io.Writer) error {
	chains := t.Chains
	if cmd.Chain != "" {
		c, err := ts.chain(t, cmd.Chain)
		if err != nil {
			return err
		}
		chains = []*abi.Chain{c}
	}
	for _, c := range chains {
		if cmd.RuleNum > 0 {
			if cmd.RuleNum > len(c.Rules) {
				return errBadIndex
			}
			c.Rules[cmd.RuleNum-1].Counters = abi.Counters{}
			c.Rules[cmd.RuleNum-1].CountersSet = true
			continue
		}
		if cmd.Verbose {
			fmt.Fprintf(out, "Zeroing chain `%s'\n", c.Name)
		}
		c.Counters, c.CountersSet = abi.Counters{}, true
		for _, r := range c.Rules {
			r.Counters, r.CountersSet = abi.Counters{}, true
		}
	}
	return nil
}

// deleteChain is iptc_delete_chain: referenced chains and chains with
// rules stay.
func deleteChain(t *abi.Table, c *abi.Chain) error {
	if references(t, c.Name) > 0 {
		return errChainInUse
	}
	if len(c.Rules) != 0 {
		return errChainNotEmpt
	}
	removeChain(t, c)
	return nil
}

// help prints the usage and, like iptables, the help of the protocol match
// of -p and of the matches given with -m (the ICMP type lists).
func (ts *Tables) help(out io.Writer, cmd *Command) error {
	var w strings.Builder
	prog := famCmd(ts.Family)
	fmt.Fprintf(&w, "%s %s\n\nUsage: %s -[ACD] chain rule-specification [options]\n", prog, Version, prog)
	fmt.Fprintf(&w, "       %s -I chain [rulenum] rule-specification [options]\n", prog)
	fmt.Fprintf(&w, "       %s -R chain rulenum rule-specification [options]\n", prog)
	fmt.Fprintf(&w, "       %s -D chain rulenum [options]\n", prog)
	fmt.Fprintf(&w, "       %s -[LS] [chain [rulenum]] [options]\n", prog)
	fmt.Fprintf(&w, "       %s -[FZ] [chain] [options]\n", prog)
	fmt.Fprintf(&w, "       %s -[NX] chain\n", prog)
	fmt.Fprintf(&w, "       %s -E old-chain-name new-chain-name\n", prog)
	fmt.Fprintf(&w, "       %s -P chain target [options]\n", prog)
	fmt.Fprintf(&w, "       %s -h (print this help information)\n", prog)
	names := map[string]bool{}
	if cmd.Spec != nil {
		if cmd.Spec.Proto {
			names[protoName(cmd.Spec.IP.Proto)] = true
		}
		for _, m := range cmd.Spec.Matches {
			names[m.ext.name] = true
		}
	}
	if names["icmp"] && ts.Family == abi.IPv4 {
		w.WriteString("\nicmp match options:\n[!] --icmp-type typename\tmatch icmp type\n[!] --icmp-type type[/code]\t(or numeric type or type/code)\nValid ICMP Types:\n")
		for _, n := range icmpNames {
			w.WriteString(n.name + "\n")
		}
	}
	if (names["icmp6"] || names["ipv6-icmp"]) && ts.Family == abi.IPv6 {
		w.WriteString("\nicmpv6 match options:\n[!] --icmpv6-type typename\tmatch icmpv6 type\n\t\t\t\t(or numeric type or type/code)\nValid ICMPv6 Types:\n")
		for _, n := range icmp6Names {
			w.WriteString(n.name + "\n")
		}
	}
	_, err := io.WriteString(out, w.String())
	return err
}
