package engine

import (
	"github.com/bpfilter-go/bpfilter/backend"
	"github.com/bpfilter-go/bpfilter/ir"
)

// compile compiles c, inlining the user chains of o.Ruleset when it is set.
func (o Options) compile(c *ir.Chain, bo backend.Options) (*backend.Program, error) {
	if o.Ruleset != nil {
		return backend.CompileInRuleset(o.Ruleset, c, bo)
	}
	bo.Plan.CounterHeadroom = o.counterHeadroom(len(c.Rules))
	return backend.Compile(c, bo)
}

// userCounters splits the user chain slots of all (nil without user
// chains).
func (c *Chain) userCounters(all []Counter) map[string][]Counter {
	if len(c.Program.UserSlots) == 0 || c.opts.Ruleset == nil {
		return nil
	}
	out := make(map[string][]Counter, len(c.Program.UserSlots))
	for name, base := range c.Program.UserSlots {
		uc := c.opts.Ruleset.Chain(name)
		if uc == nil {
			continue
		}
		n := len(uc.Rules)
		if int(base)+n > len(all) {
			continue
		}
		out[name] = append([]Counter(nil), all[base:int(base)+n]...)
	}
	return out
}
