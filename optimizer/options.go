package optimizer

import "github.com/bpfilter-go/bpfilter/ir"

// Default option values (used when the Options field is zero).
const (
	DefaultMaxTables      = 16
	DefaultInlineMax      = 4
	DefaultMaxReplication = 64
)

// Options tune Build. The zero value gives the defaults.
type Options struct {
	// MaxTables bounds the number of tables (distinct shapes, match-all
	// constants excepted) of one lookup segment: a run with more shapes is
	// split into consecutive lookup segments (0: DefaultMaxTables).
	MaxTables int
	// InlineMax is the largest number of entries for which a table is
	// marked Inline: the backend compiles its entries as compares instead
	// of a map lookup (0: DefaultInlineMax, negative: never inline).
	InlineMax int
	// MaxReplication bounds how many entries one rule's range matches may
	// expand into (the product of the range classes each range covers); a
	// rule over the budget is compiled linearly (0: DefaultMaxReplication).
	MaxReplication int
	// CounterHeadroom reserves extra rule ID slots on a build without
	// Previous, so rules can be added later without resizing the counter
	// map (a rebuild). 0 keeps IDCap == len(rules), the backend's default
	// counter contract; with headroom the policy slot is at IDCap.
	CounterHeadroom int
	// Linear disables classification: every rule goes to linear segments.
	Linear bool
	// LiveSets keeps rules that match a set linear instead of expanding
	// the set's elements into table entries: the set's own map stays the
	// source of its elements and can be updated at run time (a set match
	// is already one lookup).
	LiveSets bool
	// Previous is the plan currently loaded for this chain, if any. Zero
	// knobs above are taken from the options Previous was built with. Build
	// then keeps the stable ID and priority of every unchanged rule and
	// the capacity of every unchanged table, so Diff can turn the change
	// into map updates and counters of unchanged rules survive. A rule
	// of the chain that is the same *ir.Rule value as one of
	// Previous.Chain must be unmodified since Previous was built (plans
	// never modify rules): Build takes its fingerprint and validation
	// from Previous (shared.go).
	Previous *Plan
}

func (o Options) maxTables() int {
	if o.MaxTables <= 0 {
		return DefaultMaxTables
	}
	return o.MaxTables
}

func (o Options) inlineMax() int {
	switch {
	case o.InlineMax < 0:
		return 0
	case o.InlineMax == 0:
		return DefaultInlineMax
	}
	return o.InlineMax
}

func (o Options) maxReplication() int {
	if o.MaxReplication <= 0 {
		return DefaultMaxReplication
	}
	return o.MaxReplication
}

// usesSet reports whether rule r has a set match.
func usesSet(r *ir.Rule) bool {
	for i := range r.Matches {
		if r.Matches[i].Op == ir.OpIn {
			return true
		}
	}
	return false
}
