package daemon

import (
	"encoding/json"

	"github.com/bpfilter-go/bpfilter/daemon/proto"
	"github.com/bpfilter-go/bpfilter/ir"
)

// Counters survive updates through an offset table, not by writing into the
// new program's counter map: when a program replaces another, the old
// program's final counts for the rules that did not change are stored in
// the new entry's Offsets (persisted with the context) and added to what the
// kernel reports. The old program's counters are read after the swap, when
// it no longer sees packets, so no count is lost.

// counters returns an entry's counters: the kernel's plus the offsets.
func (e *entry) counters() (proto.Counters, error) {
	kc, err := e.prog.Counters()
	if err != nil {
		return proto.Counters{}, err
	}
	out := proto.Counters{
		Rules:  make([]proto.Counter, len(e.Chain.Rules)),
		Policy: kc.Policy.Add(e.Offsets.Policy),
		Errors: kc.Errors.Add(e.Offsets.Errors),
	}
	for i := range out.Rules {
		if i < len(kc.Rules) {
			out.Rules[i] = kc.Rules[i]
		}
		if i < len(e.Offsets.Rules) {
			out.Rules[i] = out.Rules[i].Add(e.Offsets.Rules[i])
		}
	}
	return out, nil
}

// carryCounters fills e.Offsets from the chain e replaces, following
// e.carry. s.mu must be held; the old program must still be loaded.
func (s *State) carryCounters(e *entry) {
	if e.carry == nil {
		return
	}
	old := s.chains[e.name()]
	if old == nil || old.prog == nil {
		return
	}
	oc, err := old.counters()
	if err != nil {
		s.log.Warn("reading counters to carry over; they restart at zero", "chain", e.name(), "err", err)
		return
	}
	e.Offsets = proto.Counters{Rules: make([]proto.Counter, len(e.Chain.Rules))}
	for j, i := range e.carry {
		if i >= 0 && i < len(oc.Rules) && j < len(e.Offsets.Rules) {
			e.Offsets.Rules[j] = oc.Rules[i]
		}
	}
	if e.carryPolicy {
		e.Offsets.Policy = oc.Policy
	}
	if e.carryErrors {
		e.Offsets.Errors = oc.Errors
	}
}

// ruleKey is a rule's identity for counter carry-over: everything but its
// origin, with the content of the sets it reads.
func ruleKey(c *ir.Chain, r *ir.Rule) string {
	type key struct {
		Rule ir.Rule
		Sets []*ir.Set
	}
	k := key{Rule: *r}
	k.Rule.Origin = ir.Origin{}
	for _, m := range r.Matches {
		if m.Op == ir.OpIn {
			if st := c.Set(m.Set); st != nil {
				cp := *st
				cp.Name = ""
				k.Sets = append(k.Sets, &cp)
			}
		}
	}
	b, err := json.Marshal(k)
	if err != nil {
		return ""
	}
	return string(b)
}

// matchRules maps each rule of next to an unchanged rule of prev (-1: none).
// Equal rules pair up in order: the k-th copy in next takes the k-th copy
// in prev.
func matchRules(prev, next *ir.Chain) []int {
	pool := map[string][]int{}
	for i, r := range prev.Rules {
		k := ruleKey(prev, r)
		pool[k] = append(pool[k], i)
	}
	out := make([]int, len(next.Rules))
	for j, r := range next.Rules {
		k := ruleKey(next, r)
		if q := pool[k]; len(q) > 0 && k != "" {
			out[j] = q[0]
			pool[k] = q[1:]
		} else {
			out[j] = -1
		}
	}
	return out
}

// identity maps every rule to itself (update-set: no rule changed).
func identity(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}
