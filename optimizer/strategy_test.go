package optimizer

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/bpfilter-go/bpfilter/optimizer/rulegen"
)

func gen(t testing.TB, cfg rulegen.Config) *ir.Chain {
	t.Helper()
	c, err := rulegen.Generate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func build(t testing.TB, c *ir.Chain, o Options) *Plan {
	t.Helper()
	p, err := Build(c, o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// checkProbe asserts the plan and ir.Eval agree on the probe and that the
// placed rule decides.
func checkProbe(t *testing.T, p *Plan, cfg rulegen.Config) {
	t.Helper()
	pk := rulegen.DefaultProbe().Packet(true)
	want := ir.Eval(nil, p.Chain, pk)
	got := p.Eval(pk)
	if got.Rule != want.Rule || got.Verdict != want.Verdict {
		t.Fatalf("probe: plan %+v, ir %+v", got, want)
	}
	if idx := rulegen.MatchIndex(cfg.Rules, cfg.Place); got.Rule != idx {
		t.Fatalf("probe decided by rule %d, want the placed rule %d", got.Rule, idx)
	}
}

func TestStrategySourceAddrsOneHashTable(t *testing.T) {
	for _, place := range []rulegen.Placement{rulegen.Nowhere, rulegen.First, rulegen.Middle, rulegen.Last} {
		cfg := rulegen.Config{Kind: rulegen.SourceAddrs, Rules: 10000, Seed: 1, Place: place}
		p := build(t, gen(t, cfg), Options{})
		st := p.Stats
		// The placed rule has another shape (saddr, daddr, proto, dport):
		// a second, inline table.
		wantInline := 0
		if place != rulegen.Nowhere {
			wantInline = 1
		}
		if st.LookupSegments != 1 || st.LinearRules != 0 || st.HashTables != 1 || st.LPMTables != 0 || st.InlineTables != wantInline || st.MaxLookups != 1 {
			t.Fatalf("%s: want one lookup segment with one hash table, got %v\n%s", place, st, p.Strategy())
		}
		checkProbe(t, p, cfg)
	}
}

func TestStrategyMixedPrefixesOneLPMTable(t *testing.T) {
	c := &ir.Chain{Name: "c", Hook: ir.HookXDP, Policy: ir.Verdict{Kind: ir.Accept}}
	for i := 0; i < 1000; i++ {
		l := []int{8, 16, 24, 32}[i%4]
		a := []byte{10, byte(i >> 8), byte(i), byte(i * 7)}
		m := ir.PrefixMask(l, 4)
		f := ir.IP4Snet
		if l == 32 && i%8 == 3 {
			f, m = ir.IP4Saddr, nil // same bytes as ip4.snet /32
		}
		if m != nil {
			a = and(a, m)
		}
		c.Rules = append(c.Rules, &ir.Rule{Matches: []ir.Match{{Field: f, Value: a, Mask: m}}, Verdict: ir.Verdict{Kind: ir.Drop}})
	}
	p := build(t, c, Options{})
	if st := p.Stats; st.LookupSegments != 1 || st.LPMTables != 1 || st.HashTables != 0 || st.MaxLookups != 1 {
		t.Fatalf("want one LPM table, got %v\n%s", st, p.Strategy())
	}
}

func TestStrategyRealisticMixWithinMaxTables(t *testing.T) {
	for _, n := range []int{100, 1000, 10000} {
		cfg := rulegen.Config{Kind: rulegen.Mix, Rules: n, Seed: 7, Place: rulegen.Last}
		p := build(t, gen(t, cfg), Options{})
		st := p.Stats
		if st.LookupSegments != 1 || st.LinearRules != 0 || st.Tables() > DefaultMaxTables || st.MaxLookups > DefaultMaxTables+2 {
			t.Fatalf("%d rules: want one lookup segment with at most %d tables, got %v\n%s", n, DefaultMaxTables, st, p.Strategy())
		}
		if n == 10000 && (st.LPMTables == 0 || st.ClassMaps == 0 || st.Filters == 0) {
			t.Fatalf("the mix should need LPM tables, range classes and an address filter: %v", st)
		}
		checkProbe(t, p, cfg)
	}
}

func TestStrategyLinearBreaksRuns(t *testing.T) {
	v := func(k ir.VerdictKind) ir.Verdict { return ir.Verdict{Kind: k} }
	sa := func(b byte) ir.Match { return ir.Match{Field: ir.IP4Saddr, Value: []byte{10, 0, 0, b}} }
	c := &ir.Chain{Name: "c", Hook: ir.HookTCIngress, Policy: v(ir.Accept), Rules: []*ir.Rule{
		{Matches: []ir.Match{sa(1)}, Verdict: v(ir.Drop)},
		{Matches: []ir.Match{sa(2)}, Verdict: v(ir.Drop)},
		{Matches: []ir.Match{sa(3)}, Verdict: v(ir.Continue)},                                                      // CONTINUE
		{Matches: []ir.Match{sa(4)}, Verdict: v(ir.Drop), Log: &ir.Log{}},                                          // log
		{Matches: []ir.Match{{Field: ir.IP4Saddr, Negate: true, Value: []byte{10, 0, 0, 5}}}, Verdict: v(ir.Drop)}, // negation
		{Matches: []ir.Match{{Field: ir.TCPFlags, Op: ir.OpAny, Value: []byte{2}}}, Verdict: v(ir.Drop)},           // flags
		{Matches: []ir.Match{{Field: ir.MetaProbability, Value: []byte{0, 0, 0, 1}}}, Verdict: v(ir.Drop)},         // probability
		{Matches: []ir.Match{{Field: ir.MetaFlowHash, Op: ir.OpRange, Value: []byte{0, 0, 0, 1}, High: []byte{0, 0, 0, 9}}}, Verdict: v(ir.Drop)},
		{Matches: []ir.Match{sa(6)}, Verdict: v(ir.Return)},
		{Matches: []ir.Match{sa(7)}, Verdict: v(ir.Accept)},
	}}
	p := build(t, c, Options{})
	want := "lookup[0,2) inline-hash(ip4.snet&ffffffff)×2\nlinear[2,9)\nlookup[9,10) inline-hash(ip4.snet&ffffffff)×1\n"
	if got := p.Strategy(); got != want {
		t.Fatalf("strategy:\n%s\nwant:\n%s", got, want)
	}
	for i, why := range map[int]string{2: "CONTINUE", 3: "log", 4: "negated", 5: "operator any", 6: "meta.probability", 7: "range on meta.flow_hash", 8: "RETURN"} {
		if !strings.Contains(p.Rules[i].Why, why) {
			t.Errorf("rule %d: why %q, want it to mention %q", i, p.Rules[i].Why, why)
		}
	}
}

func TestStrategyMaxTablesSplitsRuns(t *testing.T) {
	c := &ir.Chain{Name: "c", Hook: ir.HookXDP, Policy: ir.Verdict{Kind: ir.Accept}}
	fields := []ir.Field{ir.IP4Saddr, ir.IP4Daddr, ir.TCPDport, ir.UDPDport, ir.MetaIface, ir.ICMPType}
	for i := 0; i < 60; i++ {
		f := fields[i%len(fields)]
		v := make([]byte, f.Width())
		v[len(v)-1] = byte(i)
		c.Rules = append(c.Rules, &ir.Rule{Matches: []ir.Match{{Field: f, Value: v}}, Verdict: ir.Verdict{Kind: ir.Drop}})
	}
	for _, tc := range []struct{ max, segs int }{{0, 1}, {6, 1}, {5, 12}, {2, 30}} {
		p := build(t, c, Options{MaxTables: tc.max, InlineMax: -1})
		if p.Stats.LookupSegments != tc.segs {
			t.Fatalf("MaxTables %d: %d lookup segments, want %d\n%s", tc.max, p.Stats.LookupSegments, tc.segs, p.Strategy())
		}
		for _, s := range p.Segments {
			if lim := tc.max; lim > 0 && len(s.Tables) > lim {
				t.Fatalf("segment with %d tables over MaxTables %d", len(s.Tables), lim)
			}
		}
	}
}

func TestStrategyRangeReplicationBudget(t *testing.T) {
	c := &ir.Chain{Name: "c", Hook: ir.HookXDP, Policy: ir.Verdict{Kind: ir.Accept}}
	rng := func(lo, hi uint16) ir.Match {
		return ir.Match{Field: ir.TCPDport, Op: ir.OpRange, Value: be16(lo), High: be16(hi)}
	}
	for i := 0; i < 20; i++ {
		c.Rules = append(c.Rules, &ir.Rule{Matches: []ir.Match{rng(uint16(100*i), uint16(100*i+10))}, Verdict: ir.Verdict{Kind: ir.Drop}})
	}
	c.Rules = append(c.Rules, &ir.Rule{Matches: []ir.Match{rng(0, 65535)}, Verdict: ir.Verdict{Kind: ir.Accept}})
	p := build(t, c, Options{MaxReplication: 8})
	last := p.Rules[len(c.Rules)-1]
	if last.Classified || !strings.Contains(last.Why, "replication") {
		t.Fatalf("the wide range should exceed the budget and go linear: %+v\n%s", last, p.Strategy())
	}
	if p.Stats.ClassifiedRules != 20 || p.Stats.ClassMaps != 1 {
		t.Fatalf("want the 20 narrow ranges in one class map: %v", p.Stats)
	}
	cm := &p.Segments[0].Classes[0]
	arr := cm.Array()
	for v := 0; v < len(arr); v += 37 {
		if arr[v] != cm.Class(uint32(v)) {
			t.Fatalf("class array and Class disagree at %d", v)
		}
	}
}

func TestBuildRefusesInvalidChain(t *testing.T) {
	c := &ir.Chain{Name: "c", Hook: ir.HookXDP, Policy: ir.Verdict{Kind: ir.Accept}, Rules: []*ir.Rule{
		{Matches: []ir.Match{{Field: ir.IP4Saddr, Value: []byte{1}}}, Verdict: ir.Verdict{Kind: ir.Drop}},
	}}
	if _, err := Build(c, Options{}); err == nil || !strings.Contains(err.Error(), "wrong width") {
		t.Fatalf("want a validation error, got %v", err)
	}
	if _, err := Build(nil, Options{}); err == nil {
		t.Fatal("nil chain accepted")
	}
}

func TestBuildDeterministic(t *testing.T) {
	c := gen(t, rulegen.Config{Kind: rulegen.Mix, Rules: 2000, Seed: 3})
	a, b := build(t, c, Options{}), build(t, c, Options{})
	if a.Strategy() != b.Strategy() {
		t.Fatal("strategy differs between builds")
	}
	for si := range a.Segments {
		for ti := range a.Segments[si].Tables {
			if !sameEntries(a.Segments[si].Tables[ti].Entries, b.Segments[si].Tables[ti].Entries) {
				t.Fatalf("segment %d table %d entries differ between builds", si, ti)
			}
		}
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestStrategyPortsShareTablesAndConstParts(t *testing.T) {
	c := &ir.Chain{Name: "c", Hook: ir.HookXDP, Policy: ir.Verdict{Kind: ir.Accept}}
	proto := func(p uint8) ir.Match { return ir.Match{Field: ir.MetaL4Proto, Value: []byte{p}} }
	for i := 0; i < 20; i++ {
		c.Rules = append(c.Rules, &ir.Rule{Matches: []ir.Match{proto(ir.ProtoTCP), {Field: ir.TCPDport, Value: be16(uint16(1000 + i))}}, Verdict: ir.Verdict{Kind: ir.Drop}})
	}
	p := build(t, c, Options{})
	if st := p.Stats; st.HashTables != 1 {
		t.Fatalf("want one hash table: %v", st)
	}
	tb := &p.Segments[0].Tables[0]
	if tb.Key[0].Field != ir.MetaL4Proto || !bytes.Equal(tb.Key[0].Const, []byte{ir.ProtoTCP}) || tb.Key[1].Field != ir.MetaDport || tb.Key[1].Const != nil {
		t.Fatalf("want proto const tcp and tcp.dport read as meta.dport: %+v", tb.Key)
	}
	// UDP rules with the same port shape join the table; the protocol
	// is then no longer constant.
	for i := 0; i < 5; i++ {
		c.Rules = append(c.Rules, &ir.Rule{Matches: []ir.Match{{Field: ir.UDPDport, Value: be16(uint16(53 + i))}, {Field: ir.IP4Proto, Value: []byte{ir.ProtoUDP}}}, Verdict: ir.Verdict{Kind: ir.Accept}})
	}
	p = build(t, c, Options{})
	if st := p.Stats; st.HashTables != 2 {
		// ip4.proto and meta.l4_proto are different fields: two tables.
		t.Fatalf("want two hash tables: %v\n%s", st, p.Strategy())
	}
	for _, pk := range []rulegen.Probe{
		{Src: mustAddr("198.18.0.1"), Dst: mustAddr("198.18.0.2"), Proto: ir.ProtoTCP, Dport: 1005},
		{Src: mustAddr("198.18.0.1"), Dst: mustAddr("198.18.0.2"), Proto: ir.ProtoUDP, Dport: 1005},
		{Src: mustAddr("198.18.0.1"), Dst: mustAddr("198.18.0.2"), Proto: ir.ProtoUDP, Dport: 53},
	} {
		packet := pk.Packet(true)
		if got, want := p.Eval(packet), ir.Eval(nil, c, packet); got.Rule != want.Rule {
			t.Fatalf("%+v: plan rule %d, ir rule %d", pk, got.Rule, want.Rule)
		}
	}
}

// TestCostDoesNotGrowWithRules: for the probe packet, the work per packet
// of the realistic mix is the same at 1,000, 10,000 and 100,000 rules, and
// a few map lookups.
func TestCostDoesNotGrowWithRules(t *testing.T) {
	var costs []Cost
	for _, n := range []int{1000, 10000, 100000} {
		for _, place := range []rulegen.Placement{rulegen.Nowhere, rulegen.Last} {
			if n == 100000 && (place == rulegen.Nowhere || testing.Short()) {
				continue // one 100,000-rule chain is enough, none in -short
			}
			cfg := rulegen.Config{Kind: rulegen.Mix, Rules: n, Seed: 5, Place: place}
			p := build(t, gen(t, cfg), Options{})
			c := p.Cost(rulegen.DefaultProbe().Packet(true))
			if c.LinearRules != 0 || c.MapLookups > 4 {
				t.Fatalf("%d rules, probe %s: cost %+v\n%s", n, place, c, p.Strategy())
			}
			checkProbe(t, p, cfg)
			costs = append(costs, c)
		}
	}
	for _, c := range costs[1:] {
		if c != costs[0] {
			t.Fatalf("the probe's cost changed with the rule count: %+v", costs)
		}
	}
	t.Logf("probe cost at 1k/10k/100k rules: %+v", costs[0])
	// A linear plan evaluates every rule for a non-matching packet.
	lin := build(t, gen(t, rulegen.Config{Kind: rulegen.Mix, Rules: 1000, Seed: 5}), Options{Linear: true})
	if c := lin.Cost(rulegen.DefaultProbe().Packet(true)); c.LinearRules != 1000 || c.MapLookups != 0 {
		t.Fatalf("linear plan cost %+v", c)
	}
}

func TestCounterSlots(t *testing.T) {
	c := gen(t, rulegen.Config{Kind: rulegen.Mix, Rules: 50, Seed: 1})
	p := build(t, c, Options{})
	if p.PolicySlot() != 50 || p.ErrorSlot() != 51 || p.CounterEntries() != 52 || p.CounterSlot(7) != 7 {
		t.Fatal("a fresh plan must follow the backend contract: rule i at i, policy at len(rules), errors after")
	}
	h := build(t, c, Options{CounterHeadroom: 10})
	if h.PolicySlot() != 60 || h.CounterEntries() != 62 {
		t.Fatalf("headroom: policy slot %d", h.PolicySlot())
	}
}
