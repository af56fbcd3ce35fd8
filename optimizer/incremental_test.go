package optimizer

import (
	"bytes"
	"math/rand"
	"slices"
	"testing"

	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/bpfilter-go/bpfilter/optimizer/rulegen"
)

// buildFull is Build with incremental planning disabled.
func buildFull(t *testing.T, c *ir.Chain, opts Options) *Plan {
	t.Helper()
	noIncremental = true
	defer func() { noIncremental = false }()
	return build(t, c, opts)
}

// samePlans fails unless a and b describe the same plan (every entry,
// filter bucket, capacity and constant) and Diff from old gives the same
// delta.
func samePlans(t *testing.T, what string, old, a, b *Plan) {
	t.Helper()
	var da, db bytes.Buffer
	if err := a.Describe(&da, -1); err != nil {
		t.Fatal(err)
	}
	if err := b.Describe(&db, -1); err != nil {
		t.Fatal(err)
	}
	if da.String() != db.String() {
		t.Fatalf("%s: incremental plan differs from the full build:\n--- incremental\n%s\n--- full\n%s", what, da.String(), db.String())
	}
	for si := range a.Segments {
		for fi := range a.Segments[si].Filters {
			if !slices.Equal(a.Segments[si].Filters[fi].Buckets(), b.Segments[si].Filters[fi].Buckets()) {
				t.Fatalf("%s: segment %d filter %d buckets differ", what, si, fi)
			}
		}
	}
	d1, err1 := Diff(old, a)
	d2, err2 := Diff(old, b)
	if err1 != nil || err2 != nil || d1.Rebuild != d2.Rebuild || d1.Writes() != d2.Writes() {
		t.Fatalf("%s: deltas differ: %+v %v / %+v %v", what, d1, err1, d2, err2)
	}
}

// TestIncrementalEqualsFull: random classifiable chains under random edits
// (value changes, inserts, deletes, several at once, chained over several
// generations): the incremental build gives exactly the full build's plan
// and delta, and agrees with ir.Eval; the incremental path is taken.
func TestIncrementalEqualsFull(t *testing.T) {
	g := rgen{rng: rand.New(rand.NewSource(11)), plain: true}
	before := incrementalSegments.Load()
	for iter := 0; iter < 120; iter++ {
		rs, c := g.chain(20 + g.n(80))
		opts := Options{CounterHeadroom: 8, InlineMax: -1, LiveSets: iter%2 == 0}
		if iter%3 == 0 {
			opts.InlineMax = 0 // small tables inline: edits flip them
		}
		old := build(t, c, opts)
		for gen := 0; gen < 3; gen++ {
			nc := c.Clone()
			for k := 1 + g.n(3); k > 0; k-- {
				switch g.n(3) {
				case 0: // change a value
					r := nc.Rules[g.n(len(nc.Rules))]
					if len(r.Matches) > 0 && r.Matches[0].Op == ir.OpEq && r.Matches[0].Mask == nil {
						r.Matches[0].Value = append([]byte(nil), r.Matches[0].Value...)
						r.Matches[0].Value[len(r.Matches[0].Value)-1] ^= 1
					}
				case 1: // insert a copy of a rule with another verdict
					i := g.n(len(nc.Rules))
					cp := *nc.Rules[i]
					cp.Verdict = ir.Verdict{Kind: ir.Accept}
					nc.Rules = append(nc.Rules[:i], append([]*ir.Rule{&cp}, nc.Rules[i:]...)...)
				case 2: // delete
					if len(nc.Rules) > 1 {
						i := g.n(len(nc.Rules))
						nc.Rules = append(nc.Rules[:i], nc.Rules[i+1:]...)
					}
				}
			}
			inc := build(t, nc, Options{Previous: old, LiveSets: opts.LiveSets})
			full := buildFull(t, nc, Options{Previous: old, LiveSets: opts.LiveSets})
			samePlans(t, "random edit", old, inc, full)
			nrs := &ir.Ruleset{Chains: []*ir.Chain{nc, rs.Chains[1]}}
			for i := 0; i < 50; i++ {
				pk := g.packet()
				if got, want := inc.EvalRuleset(nrs, pk), ir.Eval(nrs, nc, pk); got.Rule != want.Rule || got.Verdict != want.Verdict {
					t.Fatalf("after the edit: plan %+v, ir %+v", got, want)
				}
			}
			old, c = inc, nc
		}
	}
	if n := incrementalSegments.Load() - before; n < 100 {
		t.Fatalf("only %d segments were planned incrementally", n)
	}
}

// TestIncrementalOneRuleIn10000: changing, inserting and deleting one rule
// of the 10,000-rule mix and source-address chains is planned
// incrementally and equals the full build.
func TestIncrementalOneRuleIn10000(t *testing.T) {
	for _, k := range []rulegen.Kind{rulegen.SourceAddrs, rulegen.Mix} {
		c := gen(t, rulegen.Config{Kind: k, Rules: 10000, Seed: 3})
		old := build(t, c, Options{InlineMax: -1, LiveSets: true, CounterHeadroom: 64})
		host := &ir.Rule{Counter: true, Matches: []ir.Match{{Field: ir.IP4Saddr, Op: ir.OpEq, Value: []byte{198, 18, 3, 3}}}, Verdict: ir.Verdict{Kind: ir.Drop}}
		edits := map[string]func(nc *ir.Chain){
			"replace": func(nc *ir.Chain) { nc.Rules[5000] = host },
			"insert":  func(nc *ir.Chain) { nc.Rules = slices.Insert(nc.Rules, 5000, host) },
			"delete":  func(nc *ir.Chain) { nc.Rules = slices.Delete(nc.Rules, 5000, 5001) },
		}
		for name, edit := range edits {
			nc := c.Clone()
			edit(nc)
			before := incrementalSegments.Load()
			inc := build(t, nc, Options{Previous: old, LiveSets: true})
			if incrementalSegments.Load() == before {
				t.Fatalf("%s: not planned incrementally", name)
			}
			samePlans(t, name, old, inc, buildFull(t, nc, Options{Previous: old, LiveSets: true}))
			d, err := Diff(old, inc)
			if err != nil || d.Rebuild || d.Writes() > 8 {
				t.Fatalf("%s: want a few writes, got %+v %v", name, d, err)
			}
		}
	}
}
