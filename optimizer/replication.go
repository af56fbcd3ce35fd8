package optimizer

// Known range budgets. checkReplication counts, for every rule of a lookup
// segment, the classes its ranges cover. A rule that is the very same
// classification (shapeRule) as a previous rule that stayed in a lookup
// segment of the previous plan, under the same budget, was within the
// budget with that segment's class maps; when the new segment's class maps
// are the same, so is the count, and the rule needs no counting. An
// incremental build then counts only the new rules (and those whose class
// maps changed).

// knownBudget tells the rules known to be within the range budget (nil:
// none; its methods accept a nil receiver).
type knownBudget struct {
	prev  *Plan
	match []int
	// same caches, for the current segment, whether its class maps equal
	// those of each previous segment (0: not compared yet, 1: equal,
	// 2: different).
	same []uint8
	cms  []ClassMap
}

// newKnownBudget returns nil without a previous plan built under the same
// budget.
func newKnownBudget(opts Options, match []int) *knownBudget {
	prev := opts.Previous
	if prev == nil || match == nil || prev.classified == nil || prev.opts.maxReplication() != opts.maxReplication() {
		return nil
	}
	return &knownBudget{prev: prev, match: match, same: make([]uint8, len(prev.Segments))}
}

// segment starts a lookup segment whose class maps are cms.
func (kb *knownBudget) segment(cms []ClassMap) {
	if kb == nil {
		return
	}
	clear(kb.same)
	kb.cms = cms
}

// within reports whether rule i, classified as sr, is known to be within
// the budget in the current segment.
func (kb *knownBudget) within(i int, sr *shapeRule) bool {
	if kb == nil || i >= len(kb.match) {
		return false
	}
	j := kb.match[i]
	if j < 0 || kb.prev.classified[j] != sr || !kb.prev.Rules[j].Classified {
		return false
	}
	ps := kb.prev.Rules[j].Segment
	if kb.same[ps] == 0 {
		kb.same[ps] = 2
		if sameClassMaps(kb.cms, kb.prev.Segments[ps].Classes) {
			kb.same[ps] = 1
		}
	}
	return kb.same[ps] == 1
}
