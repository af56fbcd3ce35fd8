package engine_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/bpfilter-go/bpfilter/engine"
	"github.com/bpfilter-go/bpfilter/internal/testenv"
	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/bpfilter-go/bpfilter/optimizer/rulegen"
)

// BenchmarkPrepareUpdate: engine.Chain.PrepareUpdate (the CPU part of an
// in-place update: plan with Previous, Diff, the backend's checks; no map
// write) for one rule replaced, inserted or deleted in the middle of a
// loaded 10,000-rule chain (saddr: address rules; mix: rulegen's
// realistic mix). "shared" keeps the unedited *ir.Rule values of the
// loaded chain (the daemon's chain.update-rules), "copied" gives every
// rule a fresh copy (a whole chain decoded from a request).
func BenchmarkPrepareUpdate(b *testing.B) {
	testenv.RequireBPF(b)
	const n = 10000
	for _, k := range []rulegen.Kind{rulegen.SourceAddrs, rulegen.Mix} {
		kind := "saddr"
		if k == rulegen.Mix {
			kind = "mix"
		}
		c, err := rulegen.Generate(rulegen.Config{Kind: k, Rules: n, Seed: 7, Place: rulegen.Nowhere})
		if err != nil {
			b.Fatal(err)
		}
		lc, err := engine.Load(c, engine.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { lc.Close() })
		host := &ir.Rule{Counter: true, Matches: []ir.Match{{Field: ir.IP4Saddr, Op: ir.OpEq, Value: []byte{198, 19, 250, 1}}}, Verdict: ir.Verdict{Kind: ir.Drop}}
		at := n / 2
		edits := []struct {
			name string
			edit func([]*ir.Rule) []*ir.Rule
		}{
			{"replace", func(rs []*ir.Rule) []*ir.Rule { rs[at] = host; return rs }},
			{"insert", func(rs []*ir.Rule) []*ir.Rule { return slices.Insert(rs, at, host) }},
			{"delete", func(rs []*ir.Rule) []*ir.Rule { return slices.Delete(rs, at, at+1) }},
		}
		for _, e := range edits {
			for _, share := range []string{"shared", "copied"} {
				next := *c
				if share == "copied" {
					next = *c.Clone()
				}
				next.Rules = e.edit(slices.Clone(next.Rules))
				b.Run(fmt.Sprintf("%s/%d/%s/%s", kind, n, e.name, share), func(b *testing.B) {
					for b.Loop() {
						pu, reason, err := lc.PrepareUpdate(&next)
						if err != nil || pu == nil {
							b.Fatalf("want an in-place update: %q %v", reason, err)
						}
					}
				})
			}
		}
	}
}
