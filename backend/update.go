package backend

import (
	"fmt"
	"maps"
	"slices"

	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/bpfilter-go/bpfilter/optimizer"
)

// Update is a chain change that loaded maps can absorb: the program code
// and map shapes stay, the Delta's writes turn the old contents into the
// new ones.
type Update struct {
	// Program describes the updated chain. It shares the old program's
	// Spec (same code and map shapes; its Contents are the old ones) and
	// carries the new Plan (rule IDs, counter slots).
	Program *Program
	// Delta lists the map writes (see optimizer.Diff).
	Delta optimizer.Delta
	// Actions are the bf_actions values of Delta.Actions, by rule ID.
	Actions map[uint32][]byte
}

// PlanUpdate plans next as an update of the loaded program old without
// generating code: the optimiser plans next with old's plan as Previous,
// optimizer.Diff lists the map writes, and the code generator's choices
// (segments compiled as lookups, program split, mark and redirect code of
// each dispatch, set map capacities) are checked to be the same as old's.
// When they are not, it returns a nil Update and the reason (compile and
// replace the program instead).
func PlanUpdate(old *Program, next *ir.Chain, opts Options) (*Update, string, error) {
	if old == nil || old.Plan == nil {
		return nil, "", fmt.Errorf("plan update: the old program has no plan")
	}
	if next == nil {
		return nil, "", fmt.Errorf("plan update: nil chain")
	}
	if old.UserSlots != nil || hasUserVerdicts(next) {
		return nil, "user chains are inlined", nil
	}
	if reason := xtl4NoUpdate(old, next); reason != "" { // xtl4.go
		return nil, reason, nil
	}
	popts := opts.Plan
	popts.LiveSets = true
	popts.InlineMax = -1 // as Compile
	popts.Previous = old.Plan
	np, err := optimizer.Build(next, popts)
	if err != nil {
		return nil, "", fmt.Errorf("plan update: chain %s: %w", next.Name, err)
	}
	d, err := optimizer.Diff(old.Plan, np)
	if err != nil {
		return nil, "", fmt.Errorf("plan update: chain %s: %w", next.Name, err)
	}
	if d.Rebuild {
		return nil, d.Reason, nil
	}
	oc := old.Plan.Chain
	if oc.Name != next.Name || len(oc.Sets) != len(next.Sets) {
		return nil, "chain name or sets changed", nil
	}
	ol, nl := chooseLookups(old.Plan, len(oc.Sets)), chooseLookups(np, len(next.Sets))
	if !maps.Equal(ol, nl) {
		return nil, "other segments are compiled as lookups", nil
	}
	ok1, err1 := splitChunks(old.Plan, ol, len(oc.Rules))
	ok2, err2 := splitChunks(np, nl, len(next.Rules))
	if err1 != nil || err2 != nil || len(ok1) != len(ok2) || len(ok1) > 1 && !slices.Equal(ok1, ok2) {
		return nil, "the program split changes", nil
	}
	for _, si := range nl {
		m1, r1 := dispatchNeeds(old.Plan, &old.Plan.Segments[si])
		m2, r2 := dispatchNeeds(np, &np.Segments[si])
		if m1 != m2 || r1 != r2 {
			return nil, "a dispatch gains or loses mark or redirect code", nil
		}
	}
	for i, s := range next.Sets {
		ms := old.Spec.Maps[SetMapName(i)]
		if ms == nil || uint32(len(s.Elems)) > ms.MaxEntries {
			return nil, "set " + s.Name + " outgrows its map", nil
		}
	}
	g := &gen{chain: next, hook: next.Hook, fl: next.Hook.Flavour()}
	acts := make(map[uint32][]byte, len(d.Actions))
	for _, id := range d.Actions {
		i, ok := np.RuleByID(id)
		if !ok || !np.Rules[i].Classified {
			acts[id] = make([]byte, actionValueSize)
			continue
		}
		v, err := g.actionValue(next.Rules[i])
		if err != nil {
			return nil, "", fmt.Errorf("plan update: chain %s, rule %d: %w", next.Name, i, err)
		}
		acts[id] = v
	}
	p := *old
	p.Plan, p.NumRules = np, len(next.Rules)
	return &Update{Program: &p, Delta: d, Actions: acts}, "", nil
}

// dispatchNeeds tells whether the dispatch of segment s writes marks and
// redirects (its code depends on it).
func dispatchNeeds(p *optimizer.Plan, s *optimizer.Segment) (marks, redirects bool) {
	for i := s.First; i < s.End; i++ {
		r := p.Chain.Rules[i]
		marks = marks || r.Mark != nil
		redirects = redirects || r.Verdict.Kind == ir.Redirect
	}
	return marks, redirects
}
