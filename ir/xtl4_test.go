package ir

import (
	"math/rand"
	"reflect"
	"strings"
	"testing"
)

// xtRow is one row of the kernel table (docs/HOTDROP.md) as a packet and
// the outcome the construct of kind k must have once reached.
type xtRow struct {
	name  string
	k     XTL4Kind
	p     *Packet
	proto uint8
	want  string // "match", "drop" or "miss"
}

func xtRows() []xtRow {
	return []xtRow{
		{"tcp 20", XTL4TCP, xtPkt4(ProtoTCP, 0, make([]byte, 20)), ProtoTCP, "match"},
		{"tcp 19", XTL4TCP, xtPkt4(ProtoTCP, 0, make([]byte, 19)), ProtoTCP, "drop"},
		{"tcp 10", XTL4TCP, xtPkt4(ProtoTCP, 0, make([]byte, 10)), ProtoTCP, "drop"},
		{"tcp fragoff 1", XTL4TCP, xtPkt4(ProtoTCP, 1, make([]byte, 20)), ProtoTCP, "drop"},
		{"tcp fragoff 2", XTL4TCP, xtPkt4(ProtoTCP, 2, make([]byte, 20)), ProtoTCP, "miss"},
		{"udp 8", XTL4UDP, xtPkt4(ProtoUDP, 0, make([]byte, 8)), ProtoUDP, "match"},
		{"udp 4", XTL4UDP, xtPkt4(ProtoUDP, 0, make([]byte, 4)), ProtoUDP, "drop"},
		{"udp fragoff 1", XTL4UDP, xtPkt4(ProtoUDP, 1, make([]byte, 8)), ProtoUDP, "miss"},
		{"icmp 8", XTL4ICMP, xtPkt4(ProtoICMP, 0, make([]byte, 8)), ProtoICMP, "match"},
		{"icmp 7", XTL4ICMP, xtPkt4(ProtoICMP, 0, make([]byte, 7)), ProtoICMP, "drop"},
		{"icmp 5", XTL4ICMP, xtPkt4(ProtoICMP, 0, make([]byte, 5)), ProtoICMP, "drop"},
		{"icmp fragoff 1", XTL4ICMP, xtPkt4(ProtoICMP, 1, make([]byte, 8)), ProtoICMP, "miss"},
		{"icmp6 8", XTL4ICMP6, xtPkt6(ProtoICMPv6, false, 0, make([]byte, 8)), ProtoICMPv6, "match"},
		{"icmp6 7", XTL4ICMP6, xtPkt6(ProtoICMPv6, false, 0, make([]byte, 7)), ProtoICMPv6, "drop"},
		{"ip6 tcp 19", XTL4TCP, xtPkt6(ProtoTCP, false, 0, make([]byte, 19)), ProtoTCP, "drop"},
		{"ip6 udp 4", XTL4UDP, xtPkt6(ProtoUDP, false, 0, make([]byte, 4)), ProtoUDP, "drop"},
		{"ip6 tcp fragoff 8", XTL4TCP, xtPkt6(ProtoTCP, true, 8, make([]byte, 20)), ProtoTCP, "miss"},
		{"multiport tcp 4", XTL4Multiport, xtPkt4(ProtoTCP, 0, make([]byte, 4)), ProtoTCP, "match"},
		{"multiport tcp 10", XTL4Multiport, xtPkt4(ProtoTCP, 0, make([]byte, 10)), ProtoTCP, "match"},
		{"multiport udp 3", XTL4Multiport, xtPkt4(ProtoUDP, 0, make([]byte, 3)), ProtoUDP, "drop"},
		{"multiport tcp fragoff 1", XTL4Multiport, xtPkt4(ProtoTCP, 1, make([]byte, 20)), ProtoTCP, "miss"},
		{"ip6 multiport tcp 10", XTL4Multiport, xtPkt6(ProtoTCP, false, 0, make([]byte, 10)), ProtoTCP, "match"},
	}
}

func protoMatch(proto uint8) Match {
	return Match{Field: MetaL4Proto, Op: OpEq, Value: []byte{proto}}
}

// TestXTL4EvalRows runs every row of the kernel table through ir.Eval in
// four positions: reached after a counting CONTINUE rule, behind an
// earlier criterion that is false, behind an earlier terminal rule, and
// with the construct reached in a user chain.
func TestXTL4EvalRows(t *testing.T) {
	accept, drop := Verdict{Kind: Accept}, Verdict{Kind: Drop}
	for _, row := range xtRows() {
		t.Run(row.name, func(t *testing.T) {
			xt := []Match{protoMatch(row.proto), XTL4Match(row.k)}
			// Reached: the CONTINUE rule counts, then the construct decides.
			c := &Chain{Name: "c", Hook: HookNFLocalIn, Policy: accept, Rules: []*Rule{
				{Verdict: Verdict{Kind: Continue}},
				{Matches: xt, Verdict: drop},
			}}
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			res := Eval(nil, c, row.p)
			hits := []Hit{{"c", 0}}
			switch row.want {
			case "match":
				if res.Verdict.Kind != Drop || res.Rule != 1 || res.HotDrop {
					t.Fatalf("reached: got %+v, want rule 1's DROP", res)
				}
				hits = append(hits, Hit{"c", 1})
			case "drop":
				if res.Verdict.Kind != Drop || res.Rule != 1 || !res.HotDrop {
					t.Fatalf("reached: got %+v, want a hotdrop at rule 1", res)
				}
			case "miss":
				if res.Verdict.Kind != Accept || res.Rule != -1 || res.HotDrop {
					t.Fatalf("reached: got %+v, want the policy", res)
				}
			}
			if !reflect.DeepEqual(res.Hits, hits) {
				t.Fatalf("reached: hits %v, want %v (a hotdropped rule is not counted)", res.Hits, hits)
			}
			// An earlier criterion of the rule is false: never a drop.
			falseFirst := append([]Match{{Field: MetaMark, Op: OpEq, Value: []byte{0, 0, 0, 7}}}, xt...)
			c.Rules[1] = &Rule{Matches: falseFirst, Verdict: drop}
			if res := Eval(nil, c, row.p); res.Verdict.Kind != Accept || res.HotDrop || res.Rule != -1 {
				t.Fatalf("earlier criterion false: got %+v, want the policy", res)
			}
			// An earlier terminal rule decides first.
			c.Rules[0] = &Rule{Verdict: accept}
			c.Rules[1] = &Rule{Matches: xt, Verdict: drop}
			if res := Eval(nil, c, row.p); res.Verdict.Kind != Accept || res.HotDrop || res.Rule != 0 {
				t.Fatalf("earlier terminal rule: got %+v, want rule 0's ACCEPT", res)
			}
			// The same rule in a user chain: the hotdrop ends the traversal.
			u := &Chain{Name: "u", User: true, Hook: HookNFLocalIn, Rules: []*Rule{{Matches: xt, Verdict: accept}}}
			m := &Chain{Name: "m", Hook: HookNFLocalIn, Policy: accept, Rules: []*Rule{
				{Verdict: Verdict{Kind: Jump, Chain: "u"}},
				{Verdict: drop},
			}}
			rs := &Ruleset{Chains: []*Chain{m, u}}
			if err := rs.Validate(); err != nil {
				t.Fatal(err)
			}
			res = Eval(rs, m, row.p)
			switch row.want {
			case "match":
				if res.Verdict.Kind != Accept || res.Chain != "u" || res.HotDrop {
					t.Fatalf("user chain: got %+v, want u's ACCEPT", res)
				}
			case "drop":
				if res.Verdict.Kind != Drop || res.Chain != "u" || !res.HotDrop {
					t.Fatalf("user chain: got %+v, want a hotdrop in u", res)
				}
			case "miss":
				if res.Verdict.Kind != Drop || res.Chain != "m" || res.Rule != 1 || res.HotDrop {
					t.Fatalf("user chain: got %+v, want m's rule 1", res)
				}
			}
		})
	}
}

// TestXTL4MultiportPorts: after a multiport construct the ports are read
// from 4 transport bytes, as multiport_mt does (TCP with 10 bytes matches
// its port); a tcp match in the same rule still hotdrops.
func TestXTL4MultiportPorts(t *testing.T) {
	l4 := make([]byte, 10)
	l4[3] = 22 // destination port 22
	p := xtPkt4(ProtoTCP, 0, l4)
	dport := func(port byte) Match { return Match{Field: TCPDport, Op: OpEq, Value: []byte{0, port}} }
	for _, tc := range []struct {
		name    string
		ms      []Match
		matched bool
		hot     bool
	}{
		{"port 22", []Match{protoMatch(ProtoTCP), XTL4Match(XTL4Multiport), dport(22)}, true, false},
		{"port 23", []Match{protoMatch(ProtoTCP), XTL4Match(XTL4Multiport), dport(23)}, false, false},
		{"either port", []Match{protoMatch(ProtoTCP), XTL4Match(XTL4Multiport), {Field: TCPPort, Op: OpEq, Value: []byte{0, 22}}}, true, false},
		{"then -m tcp", []Match{protoMatch(ProtoTCP), XTL4Match(XTL4Multiport), dport(22), XTL4Match(XTL4TCP)}, false, true},
		{"port 23 then -m tcp", []Match{protoMatch(ProtoTCP), XTL4Match(XTL4Multiport), dport(23), XTL4Match(XTL4TCP)}, false, false},
	} {
		c := &Chain{Name: "c", Hook: HookNFForward, Policy: Verdict{Kind: Accept}, Rules: []*Rule{{Matches: tc.ms, Verdict: Verdict{Kind: Drop}}}}
		if err := c.Validate(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		pp := Parse(p)
		matched, hot := RuleOutcome(c, c.Rules[0], p, &pp)
		if matched != tc.matched || hot != tc.hot {
			t.Errorf("%s: matched %v hotdrop %v, want %v %v", tc.name, matched, hot, tc.matched, tc.hot)
		}
	}
}

func TestXTL4Validate(t *testing.T) {
	tcp := protoMatch(ProtoTCP)
	neg := XTL4Match(XTL4TCP)
	neg.Negate = true
	for _, tc := range []struct {
		name string
		hook Hook
		ms   []Match
		want string // "" = valid
	}{
		{"tcp", HookNFLocalIn, []Match{tcp, XTL4Match(XTL4TCP), {Field: TCPDport, Op: OpEq, Value: []byte{0, 22}}}, ""},
		{"xdp", HookXDP, []Match{tcp, XTL4Match(XTL4TCP)}, "not supported by"},
		{"negated", HookNFLocalIn, []Match{tcp, neg}, "cannot be negated"},
		{"unknown kind", HookNFLocalIn, []Match{{Field: XTL4, Op: OpEq, Value: []byte{9}}}, "unknown xt match"},
		{"multiport without -p", HookNFLocalIn, []Match{XTL4Match(XTL4Multiport)}, "needs an earlier protocol"},
		{"field before construct", HookNFLocalIn, []Match{tcp, {Field: TCPDport, Op: OpEq, Value: []byte{0, 22}}, XTL4Match(XTL4TCP)}, "must follow"},
		{"flags after multiport", HookNFLocalIn, []Match{tcp, XTL4Match(XTL4Multiport), {Field: TCPFlags, Op: OpEq, Value: []byte{2}}}, "must follow"},
		{"udp field after tcp", HookNFLocalIn, []Match{tcp, XTL4Match(XTL4TCP), {Field: UDPDport, Op: OpEq, Value: []byte{0, 22}}}, "must follow"},
		{"icmp field after icmp", HookNFLocalIn, []Match{protoMatch(ProtoICMP), XTL4Match(XTL4ICMP), {Field: ICMPType, Op: OpEq, Value: []byte{8}}}, ""},
	} {
		c := &Chain{Name: "c", Hook: tc.hook, Policy: Verdict{Kind: Accept}, Rules: []*Rule{{Matches: tc.ms, Verdict: Verdict{Kind: Drop}}}}
		err := c.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: got %v, want an error with %q", tc.name, err, tc.want)
		}
	}
}

// TestXTL4NotBfcli: the construct is no bfcli matcher.
func TestXTL4NotBfcli(t *testing.T) {
	if _, ok := LookupField(XTL4.String()); ok {
		t.Fatalf("LookupField(%q) finds the iptables-only construct", XTL4)
	}
	for _, f := range Fields() {
		if f == XTL4 || f.Info().IptablesOnly {
			t.Fatalf("Fields lists %s", f)
		}
	}
	if !XTL4.Valid() || !XTL4.ValidOn(HookNFForward) || XTL4.ValidOn(HookTCIngress) {
		t.Fatal("xt.l4 must be a valid field on netfilter hooks only")
	}
}

// TestXTL4FastRuleShape: typical rules plan as they did before the
// construct existed.
func TestXTL4FastRuleShape(t *testing.T) {
	p4 := Match{Field: IP4Proto, Op: OpEq, Value: []byte{ProtoTCP}}
	dport := Match{Field: TCPDport, Op: OpEq, Value: []byte{0, 22}}
	sport0 := Match{Field: TCPSport, Op: OpEq, Value: []byte{0, 0}, Mask: []byte{0, 0}}
	icmp4 := Match{Field: IP4Proto, Op: OpEq, Value: []byte{ProtoICMP}}
	icmpType := Match{Field: ICMPType, Op: OpEq, Value: []byte{8}}
	l3v6 := Match{Field: MetaL3Proto, Op: OpEq, Value: []byte{0x86, 0xdd}}
	for _, tc := range []struct {
		name string
		in   []Match
		want []Match
	}{
		{"-p tcp --dport 22", []Match{p4, XTL4Match(XTL4TCP), dport}, []Match{p4, dport}},
		{"-p tcp -m tcp", []Match{p4, XTL4Match(XTL4TCP)}, []Match{p4, sport0}},
		{"-p tcp -m multiport", []Match{p4, XTL4Match(XTL4Multiport), dport}, []Match{p4, dport}},
		{"-p icmp --icmp-type 8", []Match{icmp4, XTL4Match(XTL4ICMP), icmpType}, []Match{icmp4, icmpType}},
		{"ip6 -p icmpv6", []Match{protoMatch(ProtoICMPv6), XTL4Match(XTL4ICMP6)},
			[]Match{protoMatch(ProtoICMPv6), l3v6, {Field: ICMPv6Type, Op: OpEq, Value: []byte{0}, Mask: []byte{0}}}},
	} {
		c := &Chain{Name: "c", Hook: HookNFLocalIn}
		got := XTL4FastRule(c, &Rule{Matches: tc.in}).Matches
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: fast form %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestXTL4FastRuleEquivalent: on every packet without XTL4SlowPath a
// rule and its fast form have the same outcome, for random rules built
// like the translator's and random (often truncated) packets.
func TestXTL4FastRuleEquivalent(t *testing.T) {
	rnd := rand.New(rand.NewSource(4))
	c := &Chain{Name: "c", Hook: HookNFForward}
	checked := 0
	for i := 0; i < 3000; i++ {
		r := randXTRule(rnd)
		c.Rules = []*Rule{r}
		if err := c.Validate(); err != nil {
			t.Fatalf("random rule %v: %v", r.Matches, err)
		}
		fast := XTL4FastRule(c, r)
		for j := 0; j < 20; j++ {
			p := randXTPacket(rnd)
			pp := Parse(p)
			if XTL4SlowPath(&pp) {
				continue
			}
			checked++
			m1, h1 := RuleOutcome(c, r, p, &pp)
			m2, h2 := RuleOutcome(c, fast, p, &pp)
			if m1 != m2 || h1 != h2 {
				t.Fatalf("rule %v, fast %v, packet %x: %v/%v vs %v/%v", r.Matches, fast.Matches, p.Data, m1, h1, m2, h2)
			}
		}
	}
	if checked < 10000 {
		t.Fatalf("only %d unflagged packets checked", checked)
	}
}

// randXTRule builds a rule as the translator does: a protocol, then xt
// matches, each a construct followed by its criteria.
func randXTRule(rnd *rand.Rand) *Rule {
	protos := []uint8{ProtoTCP, ProtoUDP, ProtoICMP, ProtoICMPv6}
	proto := protos[rnd.Intn(len(protos))]
	var ms []Match
	if rnd.Intn(2) == 0 {
		ms = append(ms, protoMatch(proto))
	} else if proto != ProtoICMPv6 {
		ms = append(ms, Match{Field: IP4Proto, Op: OpEq, Value: []byte{proto}})
	} else {
		ms = append(ms, protoMatch(proto))
	}
	port := func(f Field) Match { return Match{Field: f, Op: OpEq, Value: []byte{0, byte(rnd.Intn(3))}} }
	for n := rnd.Intn(3); n >= 0; n-- {
		switch proto {
		case ProtoTCP, ProtoUDP:
			sp, dp, ep := TCPSport, TCPDport, TCPPort
			k := XTL4TCP
			if proto == ProtoUDP {
				sp, dp, ep, k = UDPSport, UDPDport, UDPPort, XTL4UDP
			}
			if rnd.Intn(2) == 0 {
				ms = append(ms, XTL4Match(XTL4Multiport), port([]Field{sp, dp, ep}[rnd.Intn(3)]))
				continue
			}
			ms = append(ms, XTL4Match(k))
			if rnd.Intn(2) == 0 {
				ms = append(ms, port([]Field{sp, dp}[rnd.Intn(2)]))
			}
			if proto == ProtoTCP && rnd.Intn(3) == 0 {
				ms = append(ms, Match{Field: TCPOption, Op: OpEq, Value: []byte{byte(rnd.Intn(3))}})
			}
		case ProtoICMP:
			ms = append(ms, XTL4Match(XTL4ICMP))
			if rnd.Intn(2) == 0 {
				ms = append(ms, Match{Field: ICMPType, Op: OpEq, Value: []byte{byte(rnd.Intn(2))}})
			}
		case ProtoICMPv6:
			ms = append(ms, XTL4Match(XTL4ICMP6))
			if rnd.Intn(2) == 0 {
				ms = append(ms, Match{Field: ICMPv6Type, Op: OpEq, Value: []byte{byte(rnd.Intn(2))}})
			}
		}
	}
	return &Rule{Matches: ms, Verdict: Verdict{Kind: Drop}}
}

// randXTPacket is an IPv4 or IPv6 packet of a random protocol with a
// random (often truncated) transport part and fragment offset.
func randXTPacket(rnd *rand.Rand) *Packet {
	protos := []uint8{ProtoTCP, ProtoUDP, ProtoICMP, ProtoICMPv6, 47}
	proto := protos[rnd.Intn(len(protos))]
	l4 := make([]byte, []int{0, 3, 4, 7, 8, 10, 19, 20, 24}[rnd.Intn(9)])
	for i := range l4 {
		l4[i] = byte(rnd.Intn(3))
	}
	if len(l4) > 12 {
		l4[12] = byte(5+rnd.Intn(2)) << 4
	}
	if rnd.Intn(2) == 0 {
		return xtPkt4(proto, []uint16{0, 0, 0, 1, 2, 0x2000}[rnd.Intn(6)], l4)
	}
	return xtPkt6(proto, rnd.Intn(3) == 0, []uint16{0, 8}[rnd.Intn(2)], l4)
}
