package backend

import (
	"testing"

	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/bpfilter-go/bpfilter/optimizer"
	"github.com/bpfilter-go/bpfilter/optimizer/rulegen"
)

func genChain(tb testing.TB, cfg rulegen.Config) *ir.Chain {
	tb.Helper()
	c, err := rulegen.Generate(cfg)
	if err != nil {
		tb.Fatalf("rulegen: %v", err)
	}
	return c
}

// tableMaps counts the lookup table maps of a compiled program.
func tableMaps(p *Program) int {
	n := 0
	for si, s := range p.Plan.Segments {
		for ti := range s.Tables {
			if _, ok := p.Spec.Maps[tableMapName(si, ti)]; ok {
				n++
			}
		}
	}
	return n
}

// TestStrategySourceAddrsOneLookup: a chain of N source-address rules is
// one lookup segment with one hash table, and the program's size does not
// depend on N; with the rule matching the probe placed first, in the
// middle or last, the kernel's verdict and counters agree with ir.Eval.
func TestStrategySourceAddrsOneLookup(t *testing.T) {
	insns := map[rulegen.Placement]int{}
	for _, n := range []int{100, 10000} {
		for _, place := range []rulegen.Placement{rulegen.Nowhere, rulegen.First, rulegen.Middle, rulegen.Last} {
			c := genChain(t, rulegen.Config{Kind: rulegen.SourceAddrs, Rules: n, Seed: 1, Place: place})
			p, err := Compile(c, Options{})
			if err != nil {
				t.Fatal(err)
			}
			segs := p.Plan.Segments
			wantTables := 1
			if place != rulegen.Nowhere {
				wantTables = 2 // the probe rule has its own shape
			}
			if len(segs) != 1 || segs[0].Kind != optimizer.SegLookup || tableMaps(p) != wantTables {
				t.Fatalf("%d rules, %s: plan %s, %d table maps; want one lookup segment with %d tables", n, place, p.Plan.Strategy(), tableMaps(p), wantTables)
			}
			if prev, ok := insns[place]; ok && prev != p.Insns {
				t.Errorf("%s: %d instructions at %d rules, %d at 100: the program grows with the rules", place, p.Insns, n, prev)
			}
			insns[place] = p.Insns
			if n != 10000 {
				continue
			}
			l := compileAndLoad(t, c)
			probe := rulegen.DefaultProbe().Packet(true)
			before := l.counters(t)
			res := l.check(t, testPacket{frame: probe.Data})
			after := l.counters(t)
			slot := CounterIndexPolicy(n)
			if res.Rule >= 0 {
				slot = uint32(res.Rule)
			}
			if want := rulegen.MatchIndex(n, place); res.Rule != want {
				t.Errorf("%s: ir.Eval picked rule %d, want %d", place, res.Rule, want)
			}
			if after[slot].Packets != before[slot].Packets+1 {
				t.Errorf("%s: counter slot %d not counted", place, slot)
			}
			// A filler rule's address hits the table.
			fr := append([]byte(nil), probe.Data...)
			copy(fr[14+12:], c.Rules[n/3].Matches[0].Value)
			if res := l.check(t, testPacket{frame: fr}); res.Rule < 0 {
				t.Errorf("%s: filler address not matched by ir.Eval", place)
			}
		}
	}
}

// TestStrategyMixLoads: the realistic mix of rulegen at 10,000 rules
// compiles to a bounded number of table maps and loads; the probe is
// decided as ir.Eval decides it.
func TestStrategyMixLoads(t *testing.T) {
	var insns int
	for _, n := range []int{1000, 10000} {
		c := genChain(t, rulegen.Config{Kind: rulegen.Mix, Rules: n, Seed: 1, Place: rulegen.Middle})
		l := compileAndLoad(t, c)
		t.Logf("%d rules: %d instructions, %d table maps, %d maps; plan:\n%s", n, l.prog.Insns, tableMaps(l.prog), len(l.prog.Spec.Maps), l.prog.Plan.Strategy())
		if tableMaps(l.prog) == 0 || tableMaps(l.prog) > 40 {
			t.Errorf("%d rules: %d table maps", n, tableMaps(l.prog))
		}
		if insns != 0 && l.prog.Insns > 2*insns {
			t.Errorf("%d rules: %d instructions, %d at 1000", n, l.prog.Insns, insns)
		}
		insns = l.prog.Insns
		// The test run reports ifindex 1 (the probe expects 2): the
		// kernel must agree with ir.Eval whatever rule decides.
		l.check(t, testPacket{frame: rulegen.DefaultProbe().Packet(true).Data})
	}
}
