package engine

// Spare counter slots. A chain's counter map (and action array) has room
// for rule IDs beyond its rule count, so that Update can insert rules
// without a reload: a new rule takes a freed ID or one of the spare slots
// (see optimizer.Options.CounterHeadroom). The headroom is a function of
// the rule count only, so Restore, which compiles the chain again to know
// its map layout, finds the same sizes.

// counterHeadroom returns the spare rule slots of a chain of n rules:
// Options.CounterHeadroom, or when it is 0 one eighth of n plus 16
// (negative: none).
func (o Options) counterHeadroom(n int) int {
	switch {
	case o.CounterHeadroom < 0:
		return 0
	case o.CounterHeadroom > 0:
		return o.CounterHeadroom
	}
	return n/8 + 16
}
