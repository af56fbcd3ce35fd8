package optimizer

import (
	"fmt"
	"math/rand"
	"slices"
	"testing"

	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/bpfilter-go/bpfilter/optimizer/rulegen"
)

// diffPrechecksArrays is the reference diffPrechecks: both whole arrays
// compared slot by slot.
func diffPrechecksArrays(os, ns *Segment, pi int) []BucketUpdate {
	oa, na := os.Prechecks[pi].Array(os), ns.Prechecks[pi].Array(ns)
	var u []BucketUpdate
	for i := range na {
		if oa[i] != na[i] {
			u = append(u, BucketUpdate{Bucket: uint32(i), Value: na[i]})
		}
	}
	return u
}

// TestDiffPrechecksMatchesArrays: for random single-rule edits of the
// 2,000-rule mix (whose segments have prechecks) and of random chains,
// diffPrechecks lists exactly the slots the whole-array comparison does.
func TestDiffPrechecksMatchesArrays(t *testing.T) {
	rng := rand.New(rand.NewSource(9))
	c := gen(t, rulegen.Config{Kind: rulegen.Mix, Rules: 2000, Seed: 4, Hook: ir.HookXDP})
	old := build(t, c, Options{InlineMax: -1, CounterHeadroom: 64})
	checked, last := 0, 0
	for step := 0; step < 40; step++ {
		nc := *c
		nc.Rules = slices.Clone(c.Rules)
		at := rng.Intn(len(nc.Rules))
		// A copy of a rule with new values in its narrow exact matches
		// (the prechecked fields): new slots.
		cp := *c.Rules[rng.Intn(len(c.Rules))]
		cp.Matches = slices.Clone(cp.Matches)
		for i := range cp.Matches {
			if m := &cp.Matches[i]; m.Op == ir.OpEq && m.Mask == nil && len(m.Value) <= 2 && m.Field != ir.MetaL4Proto {
				m.Value = slices.Clone(m.Value)
				for k := range m.Value {
					m.Value[k] = byte(rng.Intn(256))
				}
			}
		}
		switch step % 3 {
		case 0:
			nc.Rules = slices.Insert(nc.Rules, at, &cp)
			last = at
		case 1: // delete the rule inserted before: its slots go
			nc.Rules = slices.Delete(nc.Rules, last, last+1)
		default:
			nc.Rules[at] = &cp
		}
		p := build(t, &nc, Options{Previous: old})
		if why := structureChange(old, p); why != "" {
			old, c = p, &nc
			continue
		}
		for si := range p.Segments {
			os, ns := &old.Segments[si], &p.Segments[si]
			for pi := range ns.Prechecks {
				got, want := diffPrechecks(os, ns, pi), diffPrechecksArrays(os, ns, pi)
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("step %d segment %d precheck %d: %v, want %v", step, si, pi, got, want)
				}
				checked += len(want)
			}
		}
		old, c = p, &nc
	}
	if checked == 0 {
		t.Fatal("no precheck slot changed: the test checks nothing")
	}
}
