package abi

import (
	"strings"

	"github.com/bpfilter-go/bpfilter/frontends/iptables/xt"
)

// structure turns a checked entry list into chains, checking hook entry
// points, underflows, chain boundaries, jump targets and loops.
func structure(fam Family, info Info, entries []*rawEntry) (*Table, error) {
	t := &Table{Name: info.Name, Family: fam, ValidHooks: info.ValidHooks}
	index := make(map[int]int, len(entries))
	for i, e := range entries {
		index[e.off] = i
	}
	if len(entries) == 0 {
		return nil, badf("no entries: a table ends with an ERROR entry")
	}
	last := entries[len(entries)-1]
	if !last.isError() {
		return nil, badf("last entry (offset %d) has target %q, want the final ERROR entry", last.off, last.tname)
	}
	hookAt := map[int]int{}
	underflowIdx := map[int]int{}
	for h := range NumHooks {
		if info.ValidHooks&(1<<h) == 0 {
			continue
		}
		he, ok := index[int(info.HookEntry[h])]
		if !ok {
			return nil, badf("hook %d (%s) entry offset %d is not an entry boundary", h, HookChainNames[h], info.HookEntry[h])
		}
		if prev, dup := hookAt[entries[he].off]; dup {
			return nil, badf("hooks %d and %d share entry offset %d", prev, h, info.HookEntry[h])
		}
		hookAt[entries[he].off] = h
		ui, ok := index[int(info.Underflow[h])]
		if !ok {
			return nil, badf("hook %d (%s) underflow offset %d is not an entry boundary", h, HookChainNames[h], info.Underflow[h])
		}
		u := entries[ui]
		if u.off < entries[he].off {
			return nil, badf("hook %d (%s) underflow offset %d precedes its entry point %d", h, HookChainNames[h], u.off, entries[he].off)
		}
		if !u.isStandard() || len(u.matches) != 0 || !u.ip.Unconditional(fam) {
			return nil, badf("hook %d (%s) underflow at offset %d is not an unconditional standard target", h, HookChainNames[h], u.off)
		}
		if v := u.verdict(); v != VerdictAccept && v != VerdictDrop {
			return nil, badf("hook %d (%s) underflow at offset %d has verdict %d, want ACCEPT or DROP", h, HookChainNames[h], u.off, v)
		}
		underflowIdx[h] = ui
	}

	var cur *Chain
	names := map[string]bool{}
	firstRuleAt := map[int]*Chain{} // offset of a user chain's first entry → chain
	builtinAt := map[int]*Chain{}
	type pending struct {
		rule *Rule
		e    *rawEntry
	}
	var jumps []pending
	for i := 0; i < len(entries)-1; i++ {
		e := entries[i]
		if h, ok := hookAt[e.off]; ok {
			if cur != nil {
				return nil, badf("chain %s does not end before the %s entry point at offset %d", cur.Name, HookChainNames[h], e.off)
			}
			cur = &Chain{Name: HookChainNames[h], Hook: h}
			names[cur.Name] = true
			t.Chains = append(t.Chains, cur)
			builtinAt[e.off] = cur
		}
		if cur == nil {
			if !e.isError() {
				return nil, badf("entry at offset %d belongs to no chain", e.off)
			}
			name := cString(e.tdata[:FunctionNameLen])
			if name == "" {
				return nil, badf("user chain head at offset %d has an empty name", e.off)
			}
			if names[name] {
				return nil, badf("chain %q defined twice (offset %d)", name, e.off)
			}
			names[name] = true
			cur = &Chain{Name: name, Hook: -1}
			t.Chains = append(t.Chains, cur)
			firstRuleAt[e.off+e.next] = cur
			continue
		}
		if cur.Builtin() && i == underflowIdx[cur.Hook] {
			cur.Policy = e.verdict()
			cur.Counters = e.counters
			cur.Origin = i + 1
			cur = nil
			continue
		}
		if e.isError() {
			return nil, badf("chain %s: ERROR entry at offset %d before the chain's end", cur.Name, e.off)
		}
		if !cur.Builtin() {
			n := entries[i+1]
			if _, hook := hookAt[n.off]; n.isError() || hook {
				if !e.isStandard() || len(e.matches) != 0 || !e.ip.Unconditional(fam) || e.verdict() != VerdictReturn {
					return nil, badf("user chain %s does not end with an unconditional RETURN (offset %d)", cur.Name, e.off)
				}
				cur.Counters = e.counters
				cur.Origin = i + 1
				cur = nil
				continue
			}
		}
		r := &Rule{IP: e.ip, Matches: e.matches, Counters: e.counters, NFCache: e.nfcache, Origin: i + 1}
		for j := range r.Matches {
			m := &r.Matches[j]
			if c := xt.Lookup(xt.Match, fam.XTFamily(), m.Name, m.Revision); c != nil {
				info, err := c.Decode(m.Data)
				if err != nil {
					return nil, badf("chain %s entry at offset %d: %v", cur.Name, e.off, err)
				}
				m.Info = info
			}
		}
		switch {
		case !e.isStandard():
			r.Target = Target{Kind: TargetExtension, Name: e.tname, Revision: e.trev, Data: e.tdata}
			if c := xt.Lookup(xt.Target, fam.XTFamily(), e.tname, e.trev); c != nil {
				info, err := c.Decode(e.tdata)
				if err != nil {
					return nil, badf("chain %s entry at offset %d: %v", cur.Name, e.off, err)
				}
				r.Target.Info = info
			}
		case e.verdict() < 0:
			r.Target = Target{Kind: TargetVerdict, Verdict: e.verdict()}
		case int(e.verdict()) == e.off+e.next:
			r.Target = Target{Kind: TargetFallthrough}
		default:
			jumps = append(jumps, pending{r, e})
		}
		cur.Rules = append(cur.Rules, r)
	}
	if cur != nil {
		return nil, badf("chain %s is not terminated before the final ERROR entry", cur.Name)
	}
	edges := map[*Chain][]*Chain{}
	owner := map[*Rule]*Chain{}
	for _, c := range t.Chains {
		for _, r := range c.Rules {
			owner[r] = c
		}
	}
	for _, p := range jumps {
		v := int(p.e.verdict())
		if c, ok := builtinAt[v]; ok {
			return nil, badf("entry at offset %d jumps into builtin chain %s", p.e.off, c.Name)
		}
		c, ok := firstRuleAt[v]
		if !ok {
			return nil, badf("entry at offset %d jumps to offset %d, which is not the start of a user chain", p.e.off, v)
		}
		p.rule.Target = Target{Kind: TargetJump, Chain: c.Name}
		edges[owner[p.rule]] = append(edges[owner[p.rule]], c)
	}
	if err := checkLoops(t, edges); err != nil {
		return nil, err
	}
	return t, nil
}

// checkLoops refuses jump cycles between chains (the kernel's
// mark_source_chains refuses them too).
func checkLoops(t *Table, edges map[*Chain][]*Chain) error {
	const (
		white = iota
		grey
		black
	)
	color := map[*Chain]int{}
	var path []string
	var visit func(c *Chain) error
	visit = func(c *Chain) error {
		color[c] = grey
		path = append(path, c.Name)
		for _, d := range edges[c] {
			switch color[d] {
			case grey:
				return badf("loop between chains: %s -> %s", strings.Join(path, " -> "), d.Name)
			case white:
				if err := visit(d); err != nil {
					return err
				}
			}
		}
		path = path[:len(path)-1]
		color[c] = black
		return nil
	}
	for _, c := range t.Chains {
		if color[c] == white {
			if err := visit(c); err != nil {
				return err
			}
		}
	}
	return nil
}
