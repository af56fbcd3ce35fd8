package optimizer

import (
	"slices"
	"strings"
	"testing"

	"github.com/bpfilter-go/bpfilter/ir"
)

// TestRangeBudgetAfterEdit: a rule kept from the previous plan whose range
// was within the replication budget goes over it when new rules split its
// classes; the build with Previous (which skips counting the rules whose
// class maps did not change) finds it, as a fresh build does.
func TestRangeBudgetAfterEdit(t *testing.T) {
	rng := func(lo, hi uint16, k ir.VerdictKind) *ir.Rule {
		return &ir.Rule{Matches: []ir.Match{{Field: ir.TCPDport, Op: ir.OpRange, Value: be16(lo), High: be16(hi)}}, Verdict: ir.Verdict{Kind: k}}
	}
	c := &ir.Chain{Name: "c", Hook: ir.HookXDP, Policy: ir.Verdict{Kind: ir.Accept}}
	c.Rules = []*ir.Rule{rng(0, 2000, ir.Accept), rng(100, 110, ir.Drop), rng(200, 210, ir.Drop)}
	opts := Options{MaxReplication: 8, InlineMax: -1}
	old := build(t, c, opts)
	if !old.Rules[0].Classified {
		t.Fatalf("the wide range should fit the budget first:\n%s", old.Strategy())
	}
	// A first edit that keeps the class maps: the wide rule stays.
	same := *c
	same.Rules = slices.Clone(c.Rules)
	same.Rules[2] = rng(200, 210, ir.Accept)
	mid := build(t, &same, Options{Previous: old})
	if !mid.Rules[0].Classified {
		t.Fatalf("the class maps did not change, the wide range should stay:\n%s", mid.Strategy())
	}
	// New narrow ranges inside the wide one: now it covers 25 classes.
	nc := same
	nc.Rules = slices.Clone(same.Rules)
	for k := 0; k < 10; k++ {
		nc.Rules = append(nc.Rules, rng(uint16(300+100*k), uint16(310+100*k), ir.Drop))
	}
	inc := build(t, &nc, Options{Previous: mid})
	fresh := build(t, &nc, opts)
	if inc.Rules[0].Classified || !strings.Contains(inc.Rules[0].Why, "replication") {
		t.Fatalf("the wide range should exceed the budget after the edit: %+v\n%s", inc.Rules[0], inc.Strategy())
	}
	for i := range inc.Rules {
		if inc.Rules[i].Classified != fresh.Rules[i].Classified || inc.Rules[i].Why != fresh.Rules[i].Why {
			t.Fatalf("rule %d: %+v with Previous, %+v fresh", i, inc.Rules[i], fresh.Rules[i])
		}
	}
	if inc.Strategy() != fresh.Strategy() {
		t.Fatalf("strategies differ:\n%s\n%s", inc.Strategy(), fresh.Strategy())
	}
}
