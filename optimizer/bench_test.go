package optimizer

import (
	"fmt"
	"testing"

	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/bpfilter-go/bpfilter/optimizer/rulegen"
)

var benchSizes = []int{1, 100, 1000, 10000, 100000}

// BenchmarkBuild measures planning time and reports the entries and
// lookups per packet of the plan.
func BenchmarkBuild(b *testing.B) {
	for _, kind := range []struct {
		name string
		k    rulegen.Kind
	}{{"saddr", rulegen.SourceAddrs}, {"mix", rulegen.Mix}} {
		for _, n := range benchSizes {
			c := gen(b, rulegen.Config{Kind: kind.k, Rules: n, Seed: 1})
			b.Run(fmt.Sprintf("%s/%d", kind.name, n), func(b *testing.B) {
				var p *Plan
				for b.Loop() {
					var err error
					if p, err = Build(c, Options{}); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(p.Stats.Entries), "entries")
				b.ReportMetric(float64(p.Stats.MaxLookups), "lookups/pkt")
			})
		}
	}
}

// BenchmarkRebuildOneRule measures Build with Previous plus Diff after one
// rule changed in a 10,000-rule chain (the planning part of an update).
func BenchmarkRebuildOneRule(b *testing.B) {
	c := gen(b, rulegen.Config{Kind: rulegen.Mix, Rules: 10000, Seed: 1})
	old, err := Build(c, Options{})
	if err != nil {
		b.Fatal(err)
	}
	nc := c.Clone()
	nc.Rules[5000] = &ir.Rule{Matches: []ir.Match{{Field: ir.IP4Saddr, Value: []byte{198, 18, 3, 3}}}, Verdict: ir.Verdict{Kind: ir.Drop}}
	for b.Loop() {
		p, err := Build(nc, Options{Previous: old})
		if err != nil {
			b.Fatal(err)
		}
		d, err := Diff(old, p)
		if err != nil || d.Rebuild {
			b.Fatalf("want an update: %+v %v", d.Reason, err)
		}
	}
}

// BenchmarkEval measures the Go plan evaluator against ir.Eval on the
// probe placed last (the plan's cost must not grow with the rule count).
func BenchmarkEval(b *testing.B) {
	for _, n := range []int{1, 1000, 10000} {
		cfg := rulegen.Config{Kind: rulegen.Mix, Rules: n, Seed: 1, Place: rulegen.Last}
		c := gen(b, cfg)
		p, err := Build(c, Options{})
		if err != nil {
			b.Fatal(err)
		}
		pk := rulegen.DefaultProbe().Packet(true)
		want := rulegen.MatchIndex(n, rulegen.Last)
		b.Run(fmt.Sprintf("plan/%d", n), func(b *testing.B) {
			for b.Loop() {
				if r := p.Eval(pk); r.Rule != want {
					b.Fatalf("rule %d decided, want %d", r.Rule, want)
				}
			}
		})
		b.Run(fmt.Sprintf("ir/%d", n), func(b *testing.B) {
			for b.Loop() {
				if r := ir.Eval(nil, c, pk); r.Rule != want {
					b.Fatalf("rule %d decided, want %d", r.Rule, want)
				}
			}
		})
	}
}
