package engine_test

import (
	"fmt"
	"testing"

	"github.com/bpfilter-go/bpfilter/engine"
	"github.com/bpfilter-go/bpfilter/internal/testenv"
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
		for _, e := range rulegen.OneRuleEdits(c) {
			b.Run(fmt.Sprintf("%s/%d/%s", kind, n, e.Name), func(b *testing.B) {
				for b.Loop() {
					pu, reason, err := lc.PrepareUpdate(e.Next)
					if err != nil || pu == nil {
						b.Fatalf("want an in-place update: %q %v", reason, err)
					}
				}
			})
		}
	}
}
