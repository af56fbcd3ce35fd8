package optimizer

import (
	"fmt"
	"math/rand"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/bpfilter-go/bpfilter/optimizer/rulegen"
)

// buildNoShared is Build with the shared-rule fast path disabled
// (every rule fingerprinted and validated).
func buildNoShared(t *testing.T, c *ir.Chain, opts Options, incremental bool) *Plan {
	t.Helper()
	noSharedRules = true
	defer func() { noSharedRules = false }()
	if !incremental {
		return buildFull(t, c, opts)
	}
	return build(t, c, opts)
}

// sameInternals fails unless a and b agree on what Describe does not show:
// rule IDs and priorities, fingerprints, the ID index, classification,
// the xt.l4 flag and the LPM entries' own values.
func sameInternals(t *testing.T, what string, a, b *Plan) {
	t.Helper()
	switch {
	case !slices.Equal(a.Rules, b.Rules):
		t.Fatalf("%s: rule infos differ", what)
	case a.IDCap != b.IDCap:
		t.Fatalf("%s: IDCap %d / %d", what, a.IDCap, b.IDCap)
	case !slices.Equal(a.fingerprints, b.fingerprints):
		t.Fatalf("%s: fingerprints differ", what)
	case !slices.Equal(a.byID, b.byID):
		t.Fatalf("%s: ID index differs", what)
	case !reflect.DeepEqual(a.classified, b.classified) || !slices.Equal(a.classWhy, b.classWhy):
		t.Fatalf("%s: classification differs", what)
	case a.xtl4 != b.xtl4:
		t.Fatalf("%s: xt.l4 flag differs", what)
	case a.Stats != b.Stats:
		t.Fatalf("%s: stats differ: %+v / %+v", what, a.Stats, b.Stats)
	}
	// LPM entries' values before propagation (Entry.raw).
	for si := range a.Segments {
		for ti := range a.Segments[si].Tables {
			ea, eb := a.Segments[si].Tables[ti].Entries, b.Segments[si].Tables[ti].Entries
			if len(ea) != len(eb) {
				t.Fatalf("%s: segment %d table %d: %d / %d entries", what, si, ti, len(ea), len(eb))
			}
			for i := range ea {
				if ea[i].raw != eb[i].raw {
					t.Fatalf("%s: segment %d table %d entry %d: raw %v / %v", what, si, ti, i, ea[i].raw, eb[i].raw)
				}
			}
		}
	}
}

// sameDeltas fails unless Diff from old gives the same delta, write for
// write, for a and b.
func sameDeltas(t *testing.T, what string, old, a, b *Plan) {
	t.Helper()
	da, err1 := Diff(old, a)
	db, err2 := Diff(old, b)
	if err1 != nil || err2 != nil {
		t.Fatalf("%s: diff: %v / %v", what, err1, err2)
	}
	if fa, fb := fmt.Sprintf("%+v", da), fmt.Sprintf("%+v", db); fa != fb {
		t.Fatalf("%s: deltas differ:\n%s\n%s", what, fa, fb)
	}
}

// TestSharedRulesSamePlan: random single-rule edits (insert, replace,
// delete at random positions) of the 3,000-rule source-address and mix
// chains, with the unedited *ir.Rule values shared between the old and
// the new chain as the daemon's chain.update-rules does, chained over
// generations: the build that reuses the shared rules' fingerprints and
// validation gives the same plan, internals and delta as the build that
// recomputes every rule, incremental or full; and the shared fingerprints
// are indeed taken from the previous plan.
func TestSharedRulesSamePlan(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	for _, k := range []rulegen.Kind{rulegen.SourceAddrs, rulegen.Mix} {
		c := gen(t, rulegen.Config{Kind: k, Rules: 3000, Seed: 7, Hook: ir.HookXDP})
		c.Sets = []*ir.Set{{Name: "blk", Key: []ir.Field{ir.IP4Saddr}, Elems: []ir.SetElem{{Key: []byte{198, 18, 99, 1}}}}}
		c.Rules = append(c.Rules, &ir.Rule{Matches: []ir.Match{{Field: ir.IP4Saddr, Op: ir.OpIn, Set: "blk"}}, Verdict: ir.Verdict{Kind: ir.Drop}})
		opts := Options{InlineMax: -1, LiveSets: true, CounterHeadroom: 64}
		old := build(t, c, opts)
		for step := 0; step < 24; step++ {
			nc := *c
			nc.Rules = slices.Clone(c.Rules)
			at := rng.Intn(len(nc.Rules))
			var r *ir.Rule
			switch rng.Intn(3) {
			case 0: // a new host rule
				r = &ir.Rule{Counter: rng.Intn(2) == 0, Matches: []ir.Match{{Field: ir.IP4Saddr, Op: ir.OpEq,
					Value: []byte{198, 19, byte(rng.Intn(256)), byte(rng.Intn(256))}}}, Verdict: ir.Verdict{Kind: ir.Drop}}
			case 1: // another rule of the chain, shared again elsewhere
				r = c.Rules[rng.Intn(len(c.Rules))]
			default: // a copy of a rule with another verdict
				cp := *c.Rules[rng.Intn(len(c.Rules))]
				cp.Verdict = ir.Verdict{Kind: ir.Accept}
				r = &cp
			}
			op := []string{"insert", "replace", "delete"}[step%3]
			switch op {
			case "insert":
				nc.Rules = slices.Insert(nc.Rules, at, r)
			case "replace":
				nc.Rules[at] = r
			case "delete":
				nc.Rules = slices.Delete(nc.Rules, at, at+1)
			}
			what := fmt.Sprintf("%v step %d: %s at %d", k, step, op, at)
			next := Options{Previous: old, LiveSets: true}
			fast := build(t, &nc, next)
			slow := buildNoShared(t, &nc, next, true)
			full := buildNoShared(t, &nc, next, false)
			samePlans(t, what+" (incremental)", old, fast, slow)
			samePlans(t, what+" (full)", old, fast, full)
			sameInternals(t, what+" (incremental)", fast, slow)
			sameInternals(t, what+" (full)", fast, full)
			sameDeltas(t, what+" (incremental)", old, fast, slow)
			sameDeltas(t, what+" (full)", old, fast, full)
			// The first and last rules are shared (at is never both):
			// their fingerprints are the previous plan's strings.
			for _, i := range []int{0, len(nc.Rules) - 1} {
				j := i
				if i > 0 {
					j = len(c.Rules) - 1
				}
				if nc.Rules[i] == c.Rules[j] && unsafe.StringData(fast.fingerprints[i]) != unsafe.StringData(old.fingerprints[j]) {
					t.Fatalf("%s: rule %d is shared but was fingerprinted again", what, i)
				}
			}
			old, c = fast, &nc
		}
	}
}

// TestSharedRulesValidation: a shared rule is not validated again, but a
// chain whose hook or sets changed is validated in full, and a new invalid
// rule is refused with the error of a full validation.
func TestSharedRulesValidation(t *testing.T) {
	c := gen(t, rulegen.Config{Kind: rulegen.SourceAddrs, Rules: 100, Seed: 1, Hook: ir.HookXDP})
	old := build(t, c, Options{})
	bad := &ir.Rule{Matches: []ir.Match{{Field: ir.IP4Saddr, Op: ir.OpEq, Value: []byte{1, 2, 3}}}, Verdict: ir.Verdict{Kind: ir.Drop}}
	nc := *c
	nc.Rules = slices.Insert(slices.Clone(c.Rules), 50, bad)
	_, err := Build(&nc, Options{Previous: old})
	_, want := Build(&nc, Options{})
	if err == nil || want == nil || err.Error() != want.Error() {
		t.Fatalf("invalid new rule: got %v, want %v", err, want)
	}
	// A mark is refused on XDP: a chain moved to XDP with a shared
	// marking rule must still be refused.
	tc := gen(t, rulegen.Config{Kind: rulegen.SourceAddrs, Rules: 100, Seed: 1, Hook: ir.HookTCIngress})
	mark := uint32(7)
	tc.Rules[10] = &ir.Rule{Mark: &mark, Matches: []ir.Match{{Field: ir.IP4Saddr, Op: ir.OpEq, Value: []byte{198, 18, 0, 1}}}, Verdict: ir.Verdict{Kind: ir.Accept}}
	told := build(t, tc, Options{})
	moved := *tc
	moved.Hook = ir.HookXDP
	if _, err := Build(&moved, Options{Previous: told}); err == nil {
		t.Fatal("a marking rule shared into an XDP chain was not validated")
	}
	// A set removed from the chain: the shared rule naming it is refused.
	sc := *c
	sc.Sets = []*ir.Set{{Name: "blk", Key: []ir.Field{ir.IP4Saddr}}}
	sc.Rules = append(slices.Clone(c.Rules), &ir.Rule{Matches: []ir.Match{{Field: ir.IP4Saddr, Op: ir.OpIn, Set: "blk"}}, Verdict: ir.Verdict{Kind: ir.Drop}})
	sold := build(t, &sc, Options{})
	gone := sc
	gone.Sets = nil
	if _, err := Build(&gone, Options{Previous: sold}); err == nil {
		t.Fatal("a shared rule naming a removed set was not validated")
	}
}

// TestBuildNilRule: a nil rule is refused with an error, with or without a
// previous plan (no panic).
func TestBuildNilRule(t *testing.T) {
	c := gen(t, rulegen.Config{Kind: rulegen.SourceAddrs, Rules: 10, Seed: 1, Hook: ir.HookXDP})
	old := build(t, c, Options{})
	nc := *c
	nc.Rules = slices.Clone(c.Rules)
	nc.Rules[5] = nil
	for _, o := range []Options{{}, {Previous: old}} {
		if _, err := Build(&nc, o); err == nil || !strings.Contains(err.Error(), "rule 5 is nil") {
			t.Fatalf("nil rule: %v", err)
		}
	}
}
