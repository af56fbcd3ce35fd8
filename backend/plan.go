package backend

import (
	"fmt"

	"github.com/bpfilter-go/bpfilter/ir"
)

// The plan stage turns the IR chain into what code generation consumes:
// per rule, the protocol guards hoisted out of its matches and the matches
// left to compile. An optimiser pass (grouping rules into set lookups,
// reordering compares by cost) fits between the IR and this plan.

// guard is what a rule needs from the parser before any of its matches can
// hold: a match on a header the packet does not carry is false, negated or
// not, so these requirements are a conjunction checked once per rule.
type guard struct {
	// l3 is the EtherType whose header must be present (0: none).
	l3 uint16
	// l3Any requires a network header of either family.
	l3Any bool
	// l4 lists the L4 protocols one of which must be present with its
	// header (nil: no requirement).
	l4 []uint8
	// l4Known requires the L4 protocol to be known.
	l4Known bool
	// never is set when the requirements contradict each other.
	never bool
}

// and adds the requirements of o to g.
func (g *guard) and(o guard) {
	if o.never {
		g.never = true
	}
	if o.l3 != 0 {
		if g.l3 != 0 && g.l3 != o.l3 {
			g.never = true
		}
		g.l3 = o.l3
	}
	g.l3Any = g.l3Any || o.l3Any
	g.l4Known = g.l4Known || o.l4Known
	if o.l4 != nil {
		if g.l4 == nil {
			g.l4 = append([]uint8(nil), o.l4...)
		} else {
			var both []uint8
			for _, p := range g.l4 {
				for _, q := range o.l4 {
					if p == q {
						both = append(both, p)
					}
				}
			}
			g.l4 = both
			if len(both) == 0 {
				g.never = true
			}
		}
	}
}

// fieldGuard returns what field f needs from the parser on hook h.
func fieldGuard(f ir.Field, h ir.Hook) guard {
	fi := f.Info()
	switch f {
	case ir.MetaL4Proto:
		return guard{l4Known: true}
	case ir.MetaFlowProbability:
		return guard{l3Any: true, l4: []uint8{ir.ProtoTCP, ir.ProtoUDP}}
	case ir.MetaDport:
		if h.IsSockAddr() {
			return guard{}
		}
	case ir.AddrSType, ir.AddrDType, ir.AddrSTypeIif, ir.AddrDTypeIif, ir.AddrSTypeOif, ir.AddrDTypeOif:
		// Address type fields read the network header (addrtype.go).
		return guard{l3Any: true}
	}
	var g guard
	if fi.Layer == ir.LayerL3 {
		g.l3 = fi.L3
	}
	if len(fi.L4) > 0 {
		g.l4 = fi.L4
	}
	return g
}

// rulePlan is one rule ready for code generation.
type rulePlan struct {
	index   int
	rule    *ir.Rule
	guard   guard
	matches []*ir.Match
	// xt: the rule carries xt.l4 constructs; its transport fields are
	// left out of the guard (xtl4.go, emitXTL4FieldGuard).
	xt bool
	// limits are the meta.limit matches and what follows them (limit.go).
	limits []limitPart
}

// plan is a chain ready for code generation.
type plan struct {
	chain *ir.Chain
	rules []rulePlan
}

// makePlan checks that the chain is supported and hoists the guards.
func makePlan(c *ir.Chain) (*plan, error) {
	p := &plan{chain: c}
	for i, r := range c.Rules {
		rp := rulePlan{index: i, rule: r, xt: ir.RuleHasXTL4(r)}
		for j := range r.Matches {
			m := &r.Matches[j]
			if m.Op == ir.OpIn {
				s := c.Set(m.Set)
				if s == nil {
					return nil, fmt.Errorf("chain %s, rule %d: unknown set %q", c.Name, i, m.Set)
				}
				for _, f := range s.Key {
					if !rp.xt || !ir.TransportField(f) {
						rp.guard.and(fieldGuard(f, c.Hook))
					}
				}
			} else if !rp.xt || !ir.TransportField(m.Field) {
				rp.guard.and(fieldGuard(m.Field, c.Hook))
			}
			rp.matches = append(rp.matches, m)
		}
		splitLimits(&rp, c) // meta.limit: matches after it run after it
		p.rules = append(p.rules, rp)
	}
	return p, nil
}

// equal reports whether two guards require the same thing.
func (g guard) equal(o guard) bool {
	if g.l3 != o.l3 || g.l3Any != o.l3Any || g.l4Known != o.l4Known || g.never != o.never || len(g.l4) != len(o.l4) {
		return false
	}
	for i := range g.l4 {
		if g.l4[i] != o.l4[i] {
			return false
		}
	}
	return true
}

// empty reports whether the guard requires nothing.
func (g guard) empty() bool { return g.equal(guard{}) }
