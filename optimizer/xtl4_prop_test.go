package optimizer

import (
	"encoding/binary"
	"math/rand"
	"reflect"
	"testing"

	"github.com/bpfilter-go/bpfilter/ir"
)

// xtgen draws iptables-like netfilter rules (a protocol, then xt matches
// each starting with its xt.l4 construct) and packets that are often
// truncated or fragmented, for the xt hotdrop split (Plan.HasSlowPath).
type xtgen struct{ rng *rand.Rand }

func (g xtgen) n(k int) int { return g.rng.Intn(k) }

var xtSaddrs = [][]byte{{198, 18, 0, 1}, {198, 18, 0, 2}, {198, 18, 0, 3}}

func (g xtgen) rule(user bool) *ir.Rule {
	protos := []uint8{ir.ProtoTCP, ir.ProtoUDP, ir.ProtoICMP, ir.ProtoICMPv6}
	proto := protos[g.n(len(protos))]
	var ms []ir.Match
	if g.n(3) == 0 {
		ms = append(ms, ir.Match{Field: ir.IP4Saddr, Op: ir.OpEq, Value: xtSaddrs[g.n(len(xtSaddrs))]})
	}
	if g.n(8) == 0 {
		return &ir.Rule{Matches: ms, Verdict: g.verdict(user), Counter: true} // no xt match
	}
	ms = append(ms, ir.Match{Field: ir.MetaL4Proto, Op: ir.OpEq, Value: []byte{proto}})
	port := func(f ir.Field) ir.Match {
		return ir.Match{Field: f, Op: ir.OpEq, Value: []byte{0, byte(20 + g.n(4))}}
	}
	switch proto {
	case ir.ProtoTCP, ir.ProtoUDP:
		sp, dp, k := ir.TCPSport, ir.TCPDport, ir.XTL4TCP
		if proto == ir.ProtoUDP {
			sp, dp, k = ir.UDPSport, ir.UDPDport, ir.XTL4UDP
		}
		if g.n(3) == 0 {
			ms = append(ms, ir.XTL4Match(ir.XTL4Multiport), port([]ir.Field{sp, dp}[g.n(2)]))
		} else {
			ms = append(ms, ir.XTL4Match(k))
			if g.n(4) != 0 {
				ms = append(ms, port(dp))
			}
		}
	case ir.ProtoICMP:
		ms = append(ms, ir.XTL4Match(ir.XTL4ICMP))
		if g.n(2) == 0 {
			ms = append(ms, ir.Match{Field: ir.ICMPType, Op: ir.OpEq, Value: []byte{byte(g.n(2) * 8)}})
		}
	case ir.ProtoICMPv6:
		ms = append(ms, ir.XTL4Match(ir.XTL4ICMP6))
	}
	return &ir.Rule{Matches: ms, Verdict: g.verdict(user), Counter: true}
}

func (g xtgen) verdict(user bool) ir.Verdict {
	ks := []ir.VerdictKind{ir.Accept, ir.Drop, ir.Continue}
	if !user {
		ks = append(ks, ir.Accept, ir.Drop)
		if g.n(6) == 0 {
			return ir.Verdict{Kind: ir.Jump, Chain: "u"}
		}
	}
	return ir.Verdict{Kind: ks[g.n(len(ks))]}
}

func (g xtgen) chain(n int) (*ir.Ruleset, *ir.Chain) {
	c := &ir.Chain{Name: "c", Hook: ir.HookNFForward, Policy: ir.Verdict{Kind: []ir.VerdictKind{ir.Accept, ir.Drop}[g.n(2)]}}
	u := &ir.Chain{Name: "u", Hook: ir.HookNFForward, User: true, Policy: ir.Verdict{Kind: ir.Accept}}
	for i := 0; i < 3; i++ {
		u.Rules = append(u.Rules, g.rule(true))
	}
	for i := 0; i < n; i++ {
		c.Rules = append(c.Rules, g.rule(false))
	}
	return &ir.Ruleset{Chains: []*ir.Chain{c, u}}, c
}

func (g xtgen) packet() *ir.Packet {
	protos := []uint8{ir.ProtoTCP, ir.ProtoUDP, ir.ProtoICMP, ir.ProtoICMPv6}
	proto := protos[g.n(len(protos))]
	l4 := make([]byte, []int{0, 3, 4, 7, 8, 10, 19, 20, 20, 20, 8, 8}[g.n(12)])
	if len(l4) >= 4 {
		binary.BigEndian.PutUint16(l4[0:], uint16(20+g.n(4)))
		binary.BigEndian.PutUint16(l4[2:], uint16(20+g.n(4)))
		l4[0] = []byte{0, 0, 8}[g.n(3)]
	}
	if len(l4) >= 20 {
		l4[12] = 5 << 4
	}
	if g.n(3) == 0 {
		ip := make([]byte, 40)
		ip[0], ip[6], ip[7] = 0x60, proto, 64
		if g.n(4) == 0 {
			ip[6] = 44
			fh := make([]byte, 8)
			fh[0] = proto
			binary.BigEndian.PutUint16(fh[2:], uint16(8*g.n(2)))
			ip = append(ip, fh...)
		}
		data := append(ip, l4...)
		binary.BigEndian.PutUint16(data[4:], uint16(len(data)-40))
		return &ir.Packet{L3Proto: ir.EthPIPv6, Data: data}
	}
	ip := make([]byte, 20)
	ip[0], ip[8], ip[9] = 0x45, 64, proto
	copy(ip[12:], xtSaddrs[g.n(len(xtSaddrs))])
	copy(ip[16:], []byte{198, 18, 0, 9})
	binary.BigEndian.PutUint16(ip[6:], []uint16{0, 0, 0, 1, 2, 0x2000}[g.n(6)])
	data := append(ip, l4...)
	binary.BigEndian.PutUint16(data[2:], uint16(len(data)))
	return &ir.Packet{L3Proto: ir.EthPIP, Data: data}
}

// TestPlanEvalMatchesIREvalXTL4 is the property test for chains carrying
// xt.l4 constructs: the plan (lookups from the fast form, every rule in
// order for flagged packets) gives exactly ir.Eval's result.
func TestPlanEvalMatchesIREvalXTL4(t *testing.T) {
	g := xtgen{rng: rand.New(rand.NewSource(44))}
	var hot, slow, lookups int
	for iter := 0; iter < 150; iter++ {
		rs, c := g.chain(1 + g.n(40))
		if err := rs.Validate(); err != nil {
			t.Fatalf("generator made an invalid ruleset: %v", err)
		}
		pkts := make([]*ir.Packet, 150)
		for i := range pkts {
			pkts[i] = g.packet()
		}
		for _, o := range []Options{{}, {MaxTables: 2}, {Linear: true}} {
			p, err := Build(c, o)
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			if !p.HasSlowPath() && ir.ChainHasXTL4(c) {
				t.Fatal("plan of a chain with xt.l4 constructs has no slow path")
			}
			for _, pk := range pkts {
				want := ir.Eval(rs, c, pk)
				got := p.EvalRuleset(rs, pk)
				pp := ir.Parse(pk)
				if ir.XTL4SlowPath(&pp) {
					slow++
				}
				if want.HotDrop {
					hot++
				}
				if want.Chain == c.Name && want.Rule >= 0 && p.Rules[want.Rule].Classified {
					lookups++
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("iteration %d, options %+v: plan and ir.Eval disagree\npacket % x\nplan: %+v\nir:   %+v\nstrategy:\n%s\nchain:\n%s",
						iter, o, pk.Data, got, want, p.Strategy(), dumpChain(c))
				}
			}
		}
	}
	if hot < 100 || slow < 1000 || lookups < 1000 {
		t.Fatalf("too little exercised: %d hotdrops, %d flagged packets, %d lookup decisions", hot, slow, lookups)
	}
	t.Logf("%d hotdrops, %d flagged packets, %d lookup decisions", hot, slow, lookups)
}

// TestXTL4StrategyUnchanged: a typical iptables ruleset (`-p tcp -m tcp
// --dport N -j ACCEPT`, with the construct) is planned exactly as the
// same ruleset without it.
func TestXTL4StrategyUnchanged(t *testing.T) {
	with := &ir.Chain{Name: "c", Hook: ir.HookNFLocalIn, Policy: ir.Verdict{Kind: ir.Drop}}
	without := &ir.Chain{Name: "c", Hook: ir.HookNFLocalIn, Policy: ir.Verdict{Kind: ir.Drop}}
	for i := 0; i < 64; i++ {
		p := ir.Match{Field: ir.IP4Proto, Op: ir.OpEq, Value: []byte{ir.ProtoTCP}}
		d := ir.Match{Field: ir.TCPDport, Op: ir.OpEq, Value: []byte{byte(i >> 8), byte(1000 + i)}}
		s := ir.Match{Field: ir.IP4Saddr, Op: ir.OpEq, Value: []byte{198, 18, 1, byte(i)}}
		with.Rules = append(with.Rules, &ir.Rule{Matches: []ir.Match{s, p, ir.XTL4Match(ir.XTL4TCP), d}, Verdict: ir.Verdict{Kind: ir.Accept}})
		without.Rules = append(without.Rules, &ir.Rule{Matches: []ir.Match{s, p, d}, Verdict: ir.Verdict{Kind: ir.Accept}})
	}
	pw, err := Build(with, Options{LiveSets: true, InlineMax: -1})
	if err != nil {
		t.Fatal(err)
	}
	po, err := Build(without, Options{LiveSets: true, InlineMax: -1})
	if err != nil {
		t.Fatal(err)
	}
	if pw.Strategy() != po.Strategy() || !reflect.DeepEqual(pw.Stats, po.Stats) {
		t.Fatalf("strategy changed by the construct:\nwith:\n%s\nwithout:\n%s", pw.Strategy(), po.Strategy())
	}
	if pw.Stats.ClassifiedRules != 64 {
		t.Fatalf("%d rules classified, want 64:\n%s", pw.Stats.ClassifiedRules, pw.Strategy())
	}
}
