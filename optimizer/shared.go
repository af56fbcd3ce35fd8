package optimizer

import (
	"slices"

	"github.com/bpfilter-go/bpfilter/ir"
)

// Shared rules. A chain built with Options.Previous usually differs from
// the previous plan's chain by a few rules, and callers that edit a chain
// (the daemon's chain.update-rules) share the unedited *ir.Rule values
// between the two chains. Plans never modify rules and callers must not
// modify a rule a plan is built from while the plan is in use (Plan.Chain),
// so a rule that is the very same value as a previous rule has the same
// content: Build takes its fingerprint from the previous plan and skips its
// validation instead of recomputing them. Only the common prefix and
// suffix of the two rule lists are compared (pointer equality, no rule
// content is read); the rules between are handled as without a previous
// plan. The result is the same plan either way (TestSharedRulesSamePlan).

// noSharedRules disables the shared-rule fast path (tests compare both).
var noSharedRules bool

// sharedRules is the common prefix and suffix of the rules of c and of
// the previous plan's chain, by pointer.
type sharedRules struct {
	prev *Plan
	// prefix and suffix are the lengths of the common prefix and suffix
	// (they do not overlap in either list).
	prefix, suffix int
	// validated: the shared rules passed validation in a chain with the
	// same hook and sets as c, so they need no validation again.
	validated bool
}

// findShared returns the rules c shares with prev (zero when prev is nil
// or the fast path is disabled).
func findShared(c *ir.Chain, prev *Plan) sharedRules {
	if noSharedRules || prev == nil || prev.Chain == nil || len(prev.fingerprints) != len(prev.Chain.Rules) {
		return sharedRules{}
	}
	old, cur := prev.Chain.Rules, c.Rules
	n := min(len(old), len(cur))
	p := 0
	for p < n && old[p] == cur[p] && cur[p] != nil {
		p++
	}
	s := 0
	for s < n-p && old[len(old)-1-s] == cur[len(cur)-1-s] && cur[len(cur)-1-s] != nil {
		s++
	}
	oc := prev.Chain
	validated := oc.Hook == c.Hook && sameSetKeys(oc.Sets, c.Sets)
	return sharedRules{prev: prev, prefix: p, suffix: s, validated: validated}
}

// sameSetKeys reports whether two set lists have the same names and keys
// in the same order (what a rule's validation reads of the sets).
func sameSetKeys(a, b []*ir.Set) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] == nil || b[i] == nil || a[i].Name != b[i].Name || !slices.Equal(a[i].Key, b[i].Key) {
			return false
		}
	}
	return true
}

// middle returns the bounds [lo, hi) of c's rules that are not shared.
func (sh *sharedRules) middle(c *ir.Chain) (lo, hi int) {
	return sh.prefix, len(c.Rules) - sh.suffix
}

// prevIndex returns the previous rule index of shared rule i of a chain
// of n rules (-1: not shared).
func (sh *sharedRules) prevIndex(i, n int) int {
	switch {
	case sh.prev == nil:
		return -1
	case i < sh.prefix:
		return i
	case i >= n-sh.suffix:
		return len(sh.prev.Chain.Rules) - (n - i)
	}
	return -1
}

// validate validates c, checking only the rules that are not shared when
// the shared ones were validated in an equivalent chain. On a problem it
// validates the whole chain, so the error is the one Validate gives.
func (sh *sharedRules) validate(c *ir.Chain) error {
	lo, hi := sh.middle(c)
	if sh.prev == nil || !sh.validated || hi-lo == len(c.Rules) {
		return c.Validate()
	}
	probe := *c
	probe.Rules = c.Rules[lo:hi]
	if probe.Validate() == nil {
		return nil
	}
	return c.Validate()
}

// fingerprints returns the fingerprint of every rule of c, taking those of
// shared rules from the previous plan.
func (sh *sharedRules) fingerprints(c *ir.Chain) []string {
	fps := make([]string, len(c.Rules))
	lo, hi := sh.middle(c)
	if sh.prev == nil {
		lo, hi = 0, len(c.Rules)
	}
	for i := range fps {
		if i >= lo && i < hi {
			fps[i] = fingerprint(c.Rules[i])
			continue
		}
		fps[i] = sh.prev.fingerprints[sh.prevIndex(i, len(c.Rules))]
	}
	return fps
}

// hasXTL4 is ir.ChainHasXTL4(c): when the previous chain had no xt.l4
// construct, only the rules that are not shared are looked at.
func (sh *sharedRules) hasXTL4(c *ir.Chain) bool {
	if sh.prev == nil || sh.prev.xtl4 {
		return ir.ChainHasXTL4(c)
	}
	lo, hi := sh.middle(c)
	for _, r := range c.Rules[lo:hi] {
		if r != nil && ir.RuleHasXTL4(r) {
			return true
		}
	}
	return false
}
