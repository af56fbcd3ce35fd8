package backend

import (
	"errors"
	"testing"

	"github.com/bpfilter-go/bpfilter/internal/testenv"
	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/cilium/ebpf"
)

// userChainRuleset is a base chain with nested JUMPs, a GOTO, conditional
// and unconditional RETURNs, and a user chain called from two places.
func userChainRuleset(t *testing.T, h ir.Hook) *ir.Ruleset {
	dport := func(p string, neg bool) ir.Match { return eqMatch(t, ir.TCPDport, p, neg) }
	sport := func(p string, neg bool) ir.Match { return eqMatch(t, ir.TCPSport, p, neg) }
	user := func(name string, rules ...*ir.Rule) *ir.Chain {
		return &ir.Chain{Name: name, Hook: h, User: true, Policy: ir.Verdict{Kind: ir.Accept}, Rules: rules}
	}
	v := func(k ir.VerdictKind, chain string) ir.Verdict { return ir.Verdict{Kind: k, Chain: chain} }
	rule := func(vd ir.Verdict, ms ...ir.Match) *ir.Rule { return &ir.Rule{Matches: ms, Verdict: vd} }
	leaf := user("leaf",
		rule(v(ir.Return, ""), sport("1", false)),
		rule(v(ir.Drop, ""), dport("22", false)),
		rule(v(ir.Continue, "")),
	)
	mid := user("mid",
		rule(v(ir.Jump, "leaf"), dport("80", true)),
		rule(v(ir.Accept, ""), dport("80", false)),
		rule(v(ir.Return, ""), sport("2", false)),
		rule(v(ir.Drop, ""), sport("3", false)),
	)
	gone := user("gone",
		rule(v(ir.Accept, ""), sport("4", false)),
	)
	base := &ir.Chain{Name: "base", Hook: h, Policy: ir.Verdict{Kind: ir.Drop}, Rules: []*ir.Rule{
		rule(v(ir.Jump, "mid"), dport("1000", true)),
		rule(v(ir.Jump, "leaf")),
		rule(v(ir.Goto, "gone"), sport("5", true)),
		rule(v(ir.Accept, "")),
	}}
	return &ir.Ruleset{Chains: []*ir.Chain{base, mid, leaf, gone}}
}

func TestUserChainsMatchEval(t *testing.T) {
	testenv.RequireBPF(t)
	for _, h := range []ir.Hook{ir.HookNFLocalIn, ir.HookNFLocalOut, ir.HookTCIngress, ir.HookXDP} {
		rs := userChainRuleset(t, h)
		base := rs.Chains[0]
		p, err := CompileInRuleset(rs, base, Options{})
		if err != nil {
			t.Fatalf("%s: %v", h, err)
		}
		coll, err := ebpf.NewCollectionWithOptions(p.Spec, ebpf.CollectionOptions{})
		if err != nil {
			var ve *ebpf.VerifierError
			if errors.As(err, &ve) {
				t.Fatalf("%s: load: %+v", h, ve)
			}
			t.Fatalf("%s: load: %v", h, err)
		}
		defer coll.Close()
		l := &loaded{chain: base, prog: p, coll: coll}
		want := map[int]uint64{} // counter slot → packets
		for _, sp := range []uint16{1, 2, 3, 4, 5, 6} {
			for _, dp := range []uint16{22, 80, 1000, 7} {
				pkt := testPacket{frame: tcp4("198.18.0.1", "198.18.0.2", sp, dp, 0)}
				res := ir.Eval(rs, base, evalPacket(h, pkt))
				got := l.run(t, pkt)
				if w := expectedRet(h, res.Verdict); got != w {
					t.Errorf("%s sport %d dport %d: program returned %d, ir.Eval says %s (chain %s rule %d)", h, sp, dp, int32(got), res.Verdict, res.Chain, res.Rule)
				}
				for _, hit := range res.Hits {
					slot := int(p.Plan.CounterSlot(hit.Rule))
					if hit.Chain != base.Name {
						slot = int(p.UserSlots[hit.Chain]) + hit.Rule
					}
					want[slot]++
				}
				if res.Rule < 0 {
					want[int(p.PolicySlot())]++
				}
			}
		}
		m := coll.Maps[CountersMap]
		for slot := 0; slot < int(p.CounterSlots()); slot++ {
			var per []Counter
			if err := m.Lookup(uint32(slot), &per); err != nil {
				t.Fatal(err)
			}
			var n uint64
			for _, c := range per {
				n += c.Packets
			}
			if n != want[slot] {
				t.Errorf("%s: counter slot %d = %d packets, want %d", h, slot, n, want[slot])
			}
		}
	}
}

func TestUserChainsRefused(t *testing.T) {
	rs := userChainRuleset(t, ir.HookNFLocalIn)
	if _, err := Compile(rs.Chains[0], Options{}); err == nil {
		t.Error("Compile of a chain with JUMP and no ruleset succeeded")
	}
	if _, err := CompileInRuleset(rs, rs.Chains[1], Options{}); err == nil {
		t.Error("compiling a user chain on its own succeeded")
	}
	rs.Chains[0].Rules[0].Verdict.Chain = "missing"
	if _, err := CompileInRuleset(rs, rs.Chains[0], Options{}); err == nil {
		t.Error("JUMP to a missing chain compiled")
	}
}
