package optimizer

import (
	"testing"

	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/bpfilter-go/bpfilter/optimizer/rulegen"
)

// TestStrategyMixDir16AndPrechecks: the 10,000-rule mix gets Dir16 stages
// on its IPv4 filters and prechecks on the interface and the destination
// port; the probe (an interface and a port that only its own rule names,
// addresses in an empty /16) costs no filter map lookup, and at most the
// one table lookup of the rule that matches it, wherever that rule is.
func TestStrategyMixDir16AndPrechecks(t *testing.T) {
	probe := rulegen.DefaultProbe()
	probe.Ifindex = 1
	for _, place := range []rulegen.Placement{rulegen.Nowhere, rulegen.First, rulegen.Middle, rulegen.Last} {
		cfg := rulegen.Config{Kind: rulegen.Mix, Rules: 10000, Seed: 1, Place: place, Probe: probe}
		p := build(t, gen(t, cfg), Options{InlineMax: -1, LiveSets: true})
		s := &p.Segments[0]
		fields := map[ir.Field]bool{}
		for _, pc := range s.Prechecks {
			fields[pc.Field] = true
		}
		if !fields[ir.MetaIface] || !fields[ir.MetaDport] {
			t.Fatalf("%s: prechecks %+v, want meta.iface and meta.dport", place, s.Prechecks)
		}
		for _, f := range s.Filters {
			if !f.Dir16 {
				t.Fatalf("%s: IPv4 filter on %s without Dir16", place, f.Field)
			}
		}
		c := p.Cost(probe.Packet(true))
		want := 1
		if place == rulegen.Nowhere {
			want = 0
		}
		if c.MapLookups != want || c.BucketLookups != len(s.Filters) || c.PrecheckLookups == 0 {
			t.Fatalf("%s: probe cost %+v, want %d map lookups", place, c, want)
		}
		if got := p.Eval(probe.Packet(true)); got.Rule != rulegen.MatchIndex(10000, place) {
			t.Fatalf("%s: probe decided by rule %d, want %d", place, got.Rule, rulegen.MatchIndex(10000, place))
		}
	}
}

// TestStrategyPrechecksSkipTables: interface and port rules; a packet on
// an interface or to a port no rule of a table names skips that table's
// lookup, and the plan still agrees with ir.Eval.
func TestStrategyPrechecksSkipTables(t *testing.T) {
	c := &ir.Chain{Name: "pc", Hook: ir.HookXDP, Policy: ir.Verdict{Kind: ir.Accept}}
	eq := func(f ir.Field, v ...byte) ir.Match { return ir.Match{Field: f, Op: ir.OpEq, Value: v} }
	for i := 0; i < 40; i++ {
		c.Rules = append(c.Rules, &ir.Rule{Verdict: ir.Verdict{Kind: ir.Drop}, Matches: []ir.Match{
			eq(ir.MetaIface, 0, 0, 0, byte(2+i%3)), eq(ir.MetaL4Proto, ir.ProtoTCP), eq(ir.TCPDport, 0, byte(20+i))}})
		c.Rules = append(c.Rules, &ir.Rule{Verdict: ir.Verdict{Kind: ir.Drop}, Matches: []ir.Match{
			eq(ir.MetaIface, 0, 0, 0, byte(2+i%2)), eq(ir.IP4Saddr, 10, 0, 0, byte(i))}})
	}
	p := build(t, c, Options{InlineMax: -1})
	if len(p.Segments) != 1 || len(p.Segments[0].Prechecks) == 0 {
		t.Fatalf("want one lookup segment with prechecks:\n%s", p.Strategy())
	}
	for _, tc := range []struct {
		ifindex uint32
		src     string
		dport   uint16
		lookups int
	}{
		{1, "10.0.0.1", 25, 0},  // no rule names interface 1
		{2, "198.18.0.1", 9, 1}, // no port rule names port 9: the address table only
		{2, "10.0.0.2", 25, 2},  // both tables hold the interface and port
		{4, "10.0.0.1", 25, 1},  // only port rules name interface 4
	} {
		pr := rulegen.Probe{Src: mustAddr(tc.src), Dst: mustAddr("198.18.1.1"), Proto: ir.ProtoTCP, Sport: 9, Dport: tc.dport, Ifindex: tc.ifindex}
		pk := pr.Packet(true)
		if got, want := p.Eval(pk), ir.Eval(nil, c, pk); got.Rule != want.Rule || got.Verdict != want.Verdict {
			t.Fatalf("%+v: plan rule %d, ir rule %d", tc, got.Rule, want.Rule)
		}
		if cost := p.Cost(pk); cost.MapLookups != tc.lookups {
			t.Errorf("%+v: cost %+v, want %d map lookups", tc, cost, tc.lookups)
		}
	}
}
