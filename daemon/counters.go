package daemon

import (
	"encoding/json"

	"github.com/bpfilter-go/bpfilter/daemon/proto"
	"github.com/bpfilter-go/bpfilter/ir"
)

// Counters survive updates in two ways. When a new program takes over an
// attachment in place (chain update, update-set, set on the same hook), the
// engine's Replace copies the kernel counters of unchanged rules, the policy
// and the errors into the new program's counter map before the swap. When a
// chain is re-created elsewhere (chain attach of a loaded chain), the old
// program's counts are stored in the new entry's Offsets (persisted with the
// context) and added to what the kernel reports. Offsets follow the same
// rule mapping through later in-place replacements.

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
		User:   kc.User,
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
// e.carry. When e takes over the attachment in place (over), Replace carries
// the kernel counts itself and only the old offsets move; otherwise the old
// program's counts, offsets included, become e's offsets. s.mu must be
// held; the old program must still be loaded.
func (s *State) carryCounters(e *entry, took *entry) {
	over := took != nil
	old := s.chains[e.name()]
	if over && old != took {
		// Another chain's attachment: Replace carries the kernel counts of
		// identical rules, offsets stay with their chain.
		return
	}
	if old == nil || old.prog == nil {
		return
	}
	carry, policy, errs := e.carry, e.carryPolicy, e.carryErrors
	if over && carry == nil {
		// Replace carries counters of unchanged rules; so do offsets.
		carry, policy, errs = matchRules(old.Chain, e.Chain), true, true
	}
	if carry == nil {
		return
	}
	oc := old.Offsets
	if !over {
		var err error
		if oc, err = old.counters(); err != nil {
			s.log.Warn("reading counters to carry over; they restart at zero", "chain", e.name(), "err", err)
			return
		}
	}
	e.Offsets = proto.Counters{Rules: make([]proto.Counter, len(e.Chain.Rules))}
	for j, i := range carry {
		if i >= 0 && i < len(oc.Rules) && j < len(e.Offsets.Rules) {
			e.Offsets.Rules[j] = oc.Rules[i]
		}
	}
	if policy {
		e.Offsets.Policy = oc.Policy
	}
	if errs {
		e.Offsets.Errors = oc.Errors
	}
}

// ruleKey is a rule's identity for counter carry-over: its matches,
// actions and verdict, not its origin (the engine's Replace uses the same
// identity). A rule reading a set whose content changed keeps its counters.
func ruleKey(r *ir.Rule) string {
	k := *r
	k.Origin = ir.Origin{}
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
		k := ruleKey(r)
		pool[k] = append(pool[k], i)
	}
	out := make([]int, len(next.Rules))
	for j, r := range next.Rules {
		k := ruleKey(r)
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
