package engine_test

import (
	"testing"

	"github.com/cilium/ebpf"

	"github.com/bpfilter-go/bpfilter/backend"
	"github.com/bpfilter-go/bpfilter/engine"
	"github.com/bpfilter-go/bpfilter/internal/testenv"
	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/bpfilter-go/bpfilter/optimizer"
	"github.com/bpfilter-go/bpfilter/optimizer/rulegen"
)

const (
	xdpDropRet = 1
	xdpPassRet = 2
)

// saddrChain is a 10,000-rule source-address chain (policy ACCEPT) that
// does not match the rulegen probe.
func saddrChain(t testing.TB, n int) *ir.Chain {
	c, err := rulegen.Generate(rulegen.Config{Kind: rulegen.SourceAddrs, Rules: n, Seed: 7, Place: rulegen.Nowhere})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// withSource returns the probe frame with source address src.
func withSource(src []byte) []byte {
	fr := append([]byte(nil), rulegen.DefaultProbe().Packet(true).Data...)
	copy(fr[14+12:], src)
	return fr
}

func runXDP(t testing.TB, c *engine.Chain, frame []byte) uint32 {
	t.Helper()
	ret, err := c.Collection().Programs["bf_prog"].Run(&ebpf.RunOptions{Data: frame})
	if err != nil {
		t.Fatalf("test run: %v", err)
	}
	return ret
}

// TestUpdateOneRuleIn10000 changes one rule of a loaded 10,000-rule chain
// with Update: the program ID stays, the new rule decides, the old one no
// longer does, and counters of unchanged rules survive.
func TestUpdateOneRuleIn10000(t *testing.T) {
	testenv.RequireBPF(t)
	const n = 10000
	c := saddrChain(t, n)
	lc, err := engine.Load(c, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lc.Close() })
	info, err := lc.Collection().Programs["bf_prog"].Info()
	if err != nil {
		t.Fatal(err)
	}
	id, _ := info.ID()

	kept := c.Rules[100].Matches[0].Value
	changed := c.Rules[5000].Matches[0].Value
	probeSrc := rulegen.DefaultProbe().Src.AsSlice()
	for i := 0; i < 3; i++ {
		if got := runXDP(t, lc, withSource(kept)); got != xdpDropRet {
			t.Fatalf("rule 100's address: verdict %d, want DROP", got)
		}
	}
	if got := runXDP(t, lc, withSource(changed)); got != xdpDropRet {
		t.Fatalf("rule 5000's address: verdict %d, want DROP", got)
	}
	if got := runXDP(t, lc, withSource(probeSrc)); got != xdpPassRet {
		t.Fatalf("probe: verdict %d, want ACCEPT", got)
	}

	next := c.Clone()
	next.Rules[5000] = &ir.Rule{Matches: []ir.Match{{Field: ir.IP4Saddr, Op: ir.OpEq, Value: probeSrc}}, Verdict: ir.Verdict{Kind: ir.Drop}, Counter: true}
	oldPlan := lc.Program.Plan
	ok, why, err := lc.Update(next)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		t.Fatalf("Update needs a reload: %s", why)
	}
	// The update generated no code: compiling the new chain against the
	// old plan gives the loaded program exactly.
	full, err := backend.Compile(next, backend.Options{Plan: optimizer.Options{Previous: oldPlan}})
	if err != nil {
		t.Fatal(err)
	}
	if !sameCode(lc.Program.Spec, full.Spec) {
		t.Fatal("the compiled new chain differs from the loaded program")
	}
	info, err = lc.Collection().Programs["bf_prog"].Info()
	if err != nil {
		t.Fatal(err)
	}
	if id2, _ := info.ID(); id2 != id {
		t.Fatalf("program ID changed from %d to %d", id, id2)
	}
	if got := runXDP(t, lc, withSource(probeSrc)); got != xdpDropRet {
		t.Errorf("probe after update: verdict %d, want DROP (the new rule)", got)
	}
	if got := runXDP(t, lc, withSource(changed)); got != xdpPassRet {
		t.Errorf("old address after update: verdict %d, want ACCEPT (the rule is gone)", got)
	}
	cs, err := lc.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if cs.Rules[100].Packets != 3 {
		t.Errorf("rule 100 counter after update: %d packets, want 3 (carried over)", cs.Rules[100].Packets)
	}
	if cs.Rules[5000].Packets != 1 {
		t.Errorf("new rule 5000 counter: %d packets, want 1 (reset, then the probe)", cs.Rules[5000].Packets)
	}
	if cs.Policy.Packets != 2 {
		t.Errorf("policy counter: %d, want 2", cs.Policy.Packets)
	}

	// A structural change (a linear rule appears) is refused, not applied.
	third := next.Clone()
	third.Rules[10] = &ir.Rule{Matches: []ir.Match{{Field: ir.IP4Saddr, Op: ir.OpEq, Value: kept}}, Verdict: ir.Verdict{Kind: ir.Continue}}
	ok, why, err = lc.Update(third)
	if err != nil || ok || why == "" {
		t.Errorf("structural change: Update = %v, %q, %v; want false with a reason", ok, why, err)
	}
}

// sameCode reports whether two specs have the same programs (instructions
// and references) and map shapes.
func sameCode(a, b *ebpf.CollectionSpec) bool {
	if len(a.Programs) != len(b.Programs) || len(a.Maps) != len(b.Maps) {
		return false
	}
	for name, pa := range a.Programs {
		pb := b.Programs[name]
		if pb == nil || len(pa.Instructions) != len(pb.Instructions) {
			return false
		}
		for i := range pa.Instructions {
			x, y := pa.Instructions[i], pb.Instructions[i]
			if x.OpCode != y.OpCode || x.Dst != y.Dst || x.Src != y.Src || x.Offset != y.Offset || x.Constant != y.Constant || x.Reference() != y.Reference() {
				return false
			}
		}
	}
	for name, ma := range a.Maps {
		mb := b.Maps[name]
		if mb == nil || ma.Type != mb.Type || ma.KeySize != mb.KeySize || ma.ValueSize != mb.ValueSize || ma.MaxEntries != mb.MaxEntries || ma.Flags != mb.Flags {
			return false
		}
	}
	return true
}
