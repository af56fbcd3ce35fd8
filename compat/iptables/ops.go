package iptables

import (
	"bytes"
	"fmt"

	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
	"github.com/bpfilter-go/bpfilter/frontends/iptables/xt"
)

// buildRules expands a rule spec over its -s and -d lists (sources outer,
// destinations inner, like iptables) and resolves its target in t.
func buildRules(fam abi.Family, spec *RuleSpec, t *abi.Table) ([]*abi.Rule, error) {
	var target abi.Target
	switch {
	case spec.Target != nil:
		if spec.Goto {
			return nil, paramErr("goto '%s' is not a chain", spec.Jump)
		}
		target = abi.NewTarget(spec.Target.ext.name, spec.Target.ext.rev, spec.Target.info)
	case !spec.HasJump || spec.Jump == "":
		target = abi.Target{Kind: abi.TargetFallthrough}
	default:
		if v, ok := abi.VerdictByName(spec.Jump); ok && !spec.Goto {
			target = abi.Target{Kind: abi.TargetVerdict, Verdict: v}
			break
		}
		c := t.Chain(spec.Jump)
		if c == nil || c.Builtin() {
			return nil, paramErr("Couldn't load target `%s':No such file or directory%s", spec.Jump, unsupportedNote(xt.Target, spec.Jump))
		}
		target = abi.Target{Kind: abi.TargetJump, Chain: spec.Jump}
	}
	srcs, dsts := spec.Srcs, spec.Dsts
	if len(srcs) == 0 {
		srcs = []addrMask{{zeroAddr(fam), zeroAddr(fam)}}
	}
	if len(dsts) == 0 {
		dsts = []addrMask{{zeroAddr(fam), zeroAddr(fam)}}
	}
	var out []*abi.Rule
	for _, s := range srcs {
		for _, d := range dsts {
			r := &abi.Rule{IP: spec.IP, Target: target, Counters: spec.Counters}
			r.IP.Src, r.IP.SrcMask, r.IP.Dst, r.IP.DstMask = s.addr, s.mask, d.addr, d.mask
			if spec.SrcInv {
				r.IP.InvFlags |= abi.InvSrcIP
			}
			if spec.DstInv {
				r.IP.InvFlags |= abi.InvDstIP
			}
			for _, m := range spec.Matches {
				r.Matches = append(r.Matches, abi.NewMatch(m.ext.name, m.ext.rev, m.info))
			}
			out = append(out, r)
		}
	}
	return out, nil
}

// reachableHooks returns, for every chain, the hooks it can be reached
// from: a builtin chain's own, and for a user chain those of every chain
// jumping or going to it (the kernel's mark_source_chains).
func reachableHooks(t *abi.Table) map[string]uint32 {
	hooks := map[string]uint32{}
	for _, c := range t.Chains {
		if c.Builtin() {
			hooks[c.Name] = 1 << c.Hook
		}
	}
	for changed, rounds := true, 0; changed && rounds <= len(t.Chains); rounds++ {
		changed = false
		for _, c := range t.Chains {
			for _, r := range c.Rules {
				if r.Target.Kind != abi.TargetJump {
					continue
				}
				if n := hooks[r.Target.Chain] | hooks[c.Name]; n != hooks[r.Target.Chain] {
					hooks[r.Target.Chain] = n
					changed = true
				}
			}
		}
	}
	return hooks
}

// checkTable refuses what the kernel's xt_check_match/xt_check_target and
// the extensions' checkentry functions refuse for the whole table, with
// the EINVAL message iptables prints.
func checkTable(fam abi.Family, t *abi.Table) error {
	hooks := reachableHooks(t)
	for _, c := range t.Chains {
		mask := hooks[c.Name]
		for i, r := range c.Rules {
			check := func(kind xt.Kind, name string, rev uint8, info xt.Info) error {
				e := extFor(kind, fam, name, rev, info)
				if e == nil {
					return nil
				}
				if e.table != "" && e.table != t.Name {
					return fmt.Errorf("%w (%s %s is only valid in the %s table)", errInvalidArg, kind, name, e.table)
				}
				if e.hooks != 0 && mask&^e.hooks != 0 {
					return fmt.Errorf("%w (%s %s is not valid in chain %s rule %d: reachable from hooks %#x, allowed %#x)", errInvalidArg, kind, name, c.Name, i+1, mask, e.hooks)
				}
				if e.kernelCheck == nil || info == nil {
					return nil
				}
				for h := range abi.NumHooks {
					if mask&(1<<h) != 0 {
						if err := e.kernelCheck(fam, &r.IP, info, h); err != nil {
							return kernelCheckErr(err)
						}
					}
				}
				if mask == 0 {
					if err := e.kernelCheck(fam, &r.IP, info, -1); err != nil {
						return kernelCheckErr(err)
					}
				}
				return nil
			}
			for _, m := range r.Matches {
				if err := check(xt.Match, m.Name, m.Revision, m.Info); err != nil {
					return err
				}
			}
			if r.Target.Kind == abi.TargetExtension {
				if err := check(xt.Target, r.Target.Name, r.Target.Revision, r.Target.Info); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// userSize returns the number of data bytes that identify a rule.
func userSize(kind xt.Kind, fam abi.Family, name string, rev uint8, n int) int {
	if c := xt.Lookup(kind, fam.XTFamily(), name, rev); c != nil && c.UserSize < n {
		return c.UserSize
	}
	return n
}

// sameRule is libiptc's is_same with the match mask: everything but the
// counters and kernel-private extension state.
func sameRule(fam abi.Family, a, b *abi.Rule) bool {
	if a.IP != b.IP || len(a.Matches) != len(b.Matches) {
		return false
	}
	for i := range a.Matches {
		x, y := a.Matches[i], b.Matches[i]
		if x.Name != y.Name || x.Revision != y.Revision || len(x.Data) != len(y.Data) {
			return false
		}
		n := userSize(xt.Match, fam, x.Name, x.Revision, len(x.Data))
		if !bytes.Equal(x.Data[:n], y.Data[:n]) {
			return false
		}
	}
	x, y := a.Target, b.Target
	if x.Kind != y.Kind {
		return false
	}
	switch x.Kind {
	case abi.TargetVerdict:
		return x.Verdict == y.Verdict
	case abi.TargetJump:
		return x.Chain == y.Chain
	case abi.TargetExtension:
		if x.Name != y.Name || x.Revision != y.Revision || len(x.Data) != len(y.Data) {
			return false
		}
		n := userSize(xt.Target, fam, x.Name, x.Revision, len(x.Data))
		return bytes.Equal(x.Data[:n], y.Data[:n])
	}
	return true
}

// references counts the rules of t jumping to chain.
func references(t *abi.Table, chain string) int {
	n := 0
	for _, c := range t.Chains {
		for _, r := range c.Rules {
			if r.Target.Kind == abi.TargetJump && r.Target.Chain == chain {
				n++
			}
		}
	}
	return n
}

// insertChain adds a user chain where libiptc puts it: user chains are
// kept sorted by name (strcmp) after the builtin chains.
func insertChain(t *abi.Table, c *abi.Chain) {
	for i, o := range t.Chains {
		if !o.Builtin() && c.Name <= o.Name {
			t.Chains = append(t.Chains[:i], append([]*abi.Chain{c}, t.Chains[i:]...)...)
			return
		}
	}
	t.Chains = append(t.Chains, c)
}

func removeChain(t *abi.Table, c *abi.Chain) {
	for i, o := range t.Chains {
		if o == c {
			t.Chains = append(t.Chains[:i], t.Chains[i+1:]...)
			return
		}
	}
}

// checkLoop refuses a jump from chain from to chain to when to can reach
// from (the kernel's loop check, reported as EINVAL... iptables says "Too
// many levels of symbolic links" for ELOOP).
func checkLoop(t *abi.Table, from, to string) error {
	seen := map[string]bool{}
	var reach func(name string) bool
	reach = func(name string) bool {
		if name == from {
			return true
		}
		if seen[name] {
			return false
		}
		seen[name] = true
		c := t.Chain(name)
		if c == nil {
			return false
		}
		for _, r := range c.Rules {
			if r.Target.Kind == abi.TargetJump && reach(r.Target.Chain) {
				return true
			}
		}
		return false
	}
	if reach(to) {
		return otherErr("Too many levels of symbolic links.")
	}
	return nil
}
