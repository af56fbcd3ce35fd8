package engine_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/bpfilter-go/bpfilter/engine"
	"github.com/bpfilter-go/bpfilter/internal/testenv"
	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/bpfilter-go/bpfilter/optimizer/rulegen"
)

// TestRestoreAfterUpdate: a pinned chain updated in place by replacing a
// rule is restored from its pins (no reload) with the replaced rule
// deciding and counters in place; after an insertion, whose rule IDs a
// fresh compile cannot know, Restore refuses the pins with a reason.
func TestRestoreAfterUpdate(t *testing.T) {
	testenv.RequireBPF(t)
	fs := testenv.NewBPFFS(t)
	eo := engine.Options{BPFFS: fs}
	const n = 1000
	c := saddrChain(t, n)
	lc, err := engine.Load(c, eo)
	if err != nil {
		t.Fatal(err)
	}
	if err := lc.Pin("u"); err != nil {
		lc.Close()
		t.Fatal(err)
	}
	kept := c.Rules[10].Matches[0].Value
	probeSrc := rulegen.DefaultProbe().Src.AsSlice()
	runXDP(t, lc, withSource(kept))
	v1 := c.Clone()
	v1.Rules[500] = &ir.Rule{Matches: []ir.Match{{Field: ir.IP4Saddr, Op: ir.OpEq, Value: probeSrc}}, Verdict: ir.Verdict{Kind: ir.Drop}, Counter: true}
	if ok, why, err := lc.Update(v1); err != nil || !ok {
		t.Fatalf("replace: Update = %v, %q, %v", ok, why, err)
	}
	if err := lc.Release(); err != nil {
		t.Fatal(err)
	}
	r, err := engine.Restore("u", v1, eo)
	if err != nil {
		t.Fatalf("restore after an in-place replace: %v", err)
	}
	if got := runXDP(t, r, withSource(probeSrc)); got != xdpDropRet {
		t.Errorf("restored chain: probe verdict %d, want DROP (the replaced rule)", got)
	}
	cs, err := r.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if cs.Rules[10].Packets != 1 || cs.Rules[500].Packets != 1 {
		t.Errorf("restored counters: rule 10 %d, rule 500 %d packets; want 1 and 1", cs.Rules[10].Packets, cs.Rules[500].Packets)
	}

	// An insertion: the new rule takes a spare ID.
	v2 := v1.Clone()
	v2.Rules = slices.Insert(v2.Rules, 100, &ir.Rule{Matches: []ir.Match{{Field: ir.IP4Saddr, Op: ir.OpEq, Value: []byte{198, 18, 0, 7}}}, Verdict: ir.Verdict{Kind: ir.Drop}})
	if ok, why, err := r.Update(v2); err != nil || !ok {
		t.Fatalf("insert: Update = %v, %q, %v", ok, why, err)
	}
	if err := r.Release(); err != nil {
		t.Fatal(err)
	}
	_, err = engine.Restore("u", v2, eo)
	if err == nil || !strings.Contains(err.Error(), "Update") {
		t.Fatalf("restore after an insertion: %v, want a refusal naming the update", err)
	}
	// The pins go away with the private bpffs.
}
