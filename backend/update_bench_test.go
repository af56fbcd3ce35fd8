package backend

import (
	"fmt"
	"testing"

	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/bpfilter-go/bpfilter/optimizer"
	"github.com/bpfilter-go/bpfilter/optimizer/rulegen"
)

// BenchmarkPlanUpdate measures PlanUpdate (the planning half of
// engine.Chain.PrepareUpdate: optimizer Build with Previous, Diff and the
// backend's checks, no code generation) for one rule replaced, inserted
// or deleted in the middle of a compiled 10,000-rule XDP chain (saddr:
// address rules; mix: rulegen's realistic mix), with a set and a set rule
// at the end as the daemon's benchmark chain has. "shared" edits share the
// unchanged *ir.Rule values with the loaded chain (the daemon's
// chain.update-rules path); "copied" gives every rule a fresh copy (a
// whole chain sent by chain.update).
func BenchmarkPlanUpdate(b *testing.B) {
	const n = 10000
	for _, k := range []rulegen.Kind{rulegen.SourceAddrs, rulegen.Mix} {
		kind := "saddr"
		if k == rulegen.Mix {
			kind = "mix"
		}
		c, err := rulegen.Generate(rulegen.Config{Kind: k, Rules: n, Seed: 1, Hook: ir.HookXDP})
		if err != nil {
			b.Fatal(err)
		}
		c.Sets = []*ir.Set{{Name: "blk", Key: []ir.Field{ir.IP4Saddr}, Elems: []ir.SetElem{{Key: []byte{198, 18, 99, 1}}}}}
		c.Rules = append(c.Rules, &ir.Rule{Matches: []ir.Match{{Field: ir.IP4Saddr, Op: ir.OpIn, Set: "blk"}}, Verdict: ir.Verdict{Kind: ir.Drop}, Counter: true})
		// The engine gives a chain of n rules n/8+16 spare counter slots.
		old, err := Compile(c, Options{Plan: optimizer.Options{CounterHeadroom: n/8 + 16}})
		if err != nil {
			b.Fatal(err)
		}
		for _, e := range rulegen.OneRuleEdits(c) {
			b.Run(fmt.Sprintf("%s/%d/%s", kind, n, e.Name), func(b *testing.B) {
				for b.Loop() {
					u, reason, err := PlanUpdate(old, e.Next, Options{})
					if err != nil || u == nil {
						b.Fatalf("want an update: %q %v", reason, err)
					}
				}
			})
		}
	}
}
