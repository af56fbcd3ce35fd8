package engine_test

import (
	"slices"
	"testing"

	"github.com/bpfilter-go/bpfilter/engine"
	"github.com/bpfilter-go/bpfilter/internal/testenv"
	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/bpfilter-go/bpfilter/optimizer/rulegen"
)

// TestUpdateInsertUsesSpareCounterSlots: with the default counter
// headroom, inserting rules into a loaded 10,000-rule chain is an Update
// (no reload: same program ID), the inserted rules decide, counters of the
// others survive; without headroom the same insertion needs a reload.
func TestUpdateInsertUsesSpareCounterSlots(t *testing.T) {
	testenv.RequireBPF(t)
	const n = 10000
	c := saddrChain(t, n)
	lc, err := engine.Load(c, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lc.Close() })
	if got, want := lc.Program.CounterSlots(), uint32(n+n/8+16+2); got != want {
		t.Fatalf("counter slots %d, want %d (rules, headroom, policy, errors)", got, want)
	}
	prog := lc.Collection().Programs["bf_prog"]
	info, err := prog.Info()
	if err != nil {
		t.Fatal(err)
	}
	id, _ := info.ID()
	kept := c.Rules[9000].Matches[0].Value
	for i := 0; i < 2; i++ {
		if got := runXDP(t, lc, withSource(kept)); got != xdpDropRet {
			t.Fatalf("rule 9000's address: verdict %d, want DROP", got)
		}
	}
	probeSrc := rulegen.DefaultProbe().Src.AsSlice()
	next := c
	for k := 0; k < 3; k++ { // three insertions, one after the other
		nc := next.Clone()
		src := append([]byte(nil), probeSrc...)
		src[3] += byte(k)
		r := &ir.Rule{Matches: []ir.Match{{Field: ir.IP4Saddr, Op: ir.OpEq, Value: src}}, Verdict: ir.Verdict{Kind: ir.Drop}, Counter: true}
		nc.Rules = slices.Insert(nc.Rules, 4000+k, r)
		ok, why, err := lc.Update(nc)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			t.Fatalf("insertion %d needs a reload: %s", k, why)
		}
		next = nc
		if got := runXDP(t, lc, withSource(src)); got != xdpDropRet {
			t.Fatalf("inserted rule %d: verdict %d, want DROP", k, got)
		}
	}
	info, err = lc.Collection().Programs["bf_prog"].Info()
	if err != nil {
		t.Fatal(err)
	}
	if id2, _ := info.ID(); id2 != id {
		t.Fatalf("program ID changed from %d to %d", id, id2)
	}
	cs, err := lc.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if got := cs.Rules[9003].Packets; got != 2 {
		t.Errorf("rule 9000 (now 9003) counter: %d packets, want 2 (carried over)", got)
	}
	for k := 0; k < 3; k++ {
		if got := cs.Rules[4000+k].Packets; got != 1 {
			t.Errorf("inserted rule %d counter: %d packets, want 1", k, got)
		}
	}

	// No headroom: the insertion outgrows the counter map.
	lc0, err := engine.Load(c, engine.Options{CounterHeadroom: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lc0.Close() })
	nc := c.Clone()
	nc.Rules = slices.Insert(nc.Rules, 10, &ir.Rule{Matches: []ir.Match{{Field: ir.IP4Saddr, Op: ir.OpEq, Value: probeSrc}}, Verdict: ir.Verdict{Kind: ir.Drop}})
	if ok, why, err := lc0.Update(nc); err != nil || ok || why == "" {
		t.Errorf("insertion without headroom: Update = %v, %q, %v; want a reload with a reason", ok, why, err)
	}
}
