package ir

import (
	"encoding/binary"
	"testing"
)

// pkt4 builds an Ethernet+IPv4 packet with the given protocol and L4 bytes.
func pkt4(src, dst [4]byte, proto uint8, l4 []byte) []byte {
	b := make([]byte, 14+20)
	binary.BigEndian.PutUint16(b[12:], EthPIP)
	ip := b[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(l4)))
	ip[8] = 64
	ip[9] = proto
	copy(ip[12:], src[:])
	copy(ip[16:], dst[:])
	return append(b, l4...)
}

func udp(sport, dport uint16) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint16(b, sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint16(b[4:], 8)
	return b
}

func tcp(sport, dport uint16, flags uint8) []byte {
	b := make([]byte, 20)
	binary.BigEndian.PutUint16(b, sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	b[12] = 5 << 4
	b[13] = flags
	return b
}

func mustParse(t *testing.T, f Field, s string) ([]byte, []byte) {
	t.Helper()
	v, m, err := f.Info().Kind.Parse(s, ParseEnv{})
	if err != nil {
		t.Fatalf("parse %s %q: %v", f, s, err)
	}
	return v, m
}

func eqMatch(t *testing.T, f Field, s string, neg bool) Match {
	v, m := mustParse(t, f, s)
	return Match{Field: f, Op: OpEq, Value: v, Mask: m, Negate: neg}
}

func TestEvalFirstMatchAndContinue(t *testing.T) {
	c := &Chain{Name: "c", Hook: HookXDP, Policy: Verdict{Kind: Accept}}
	c.Rules = []*Rule{
		{Matches: []Match{eqMatch(t, IP4Saddr, "198.18.0.1", false)}, Verdict: Verdict{Kind: Continue}},
		{Matches: []Match{eqMatch(t, UDPDport, "53", false)}, Verdict: Verdict{Kind: Drop}},
		{Verdict: Verdict{Kind: Accept}},
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	p := &Packet{L2: true, Data: pkt4([4]byte{198, 18, 0, 1}, [4]byte{198, 18, 0, 2}, ProtoUDP, udp(1000, 53))}
	r := Eval(nil, c, p)
	if r.Verdict.Kind != Drop || r.Rule != 1 || len(r.Hits) != 2 {
		t.Fatalf("got %+v, want DROP by rule 1 after a CONTINUE hit", r)
	}
	p = &Packet{L2: true, Data: pkt4([4]byte{198, 18, 0, 3}, [4]byte{198, 18, 0, 2}, ProtoUDP, udp(1000, 54))}
	if r := Eval(nil, c, p); r.Verdict.Kind != Accept || r.Rule != 2 || len(r.Hits) != 1 {
		t.Fatalf("got %+v, want ACCEPT by rule 2", r)
	}
}

func TestEvalMissingHeaderIsFalseEvenNegated(t *testing.T) {
	c := &Chain{Name: "c", Hook: HookTCIngress, Policy: Verdict{Kind: Accept}, Rules: []*Rule{
		{Matches: []Match{eqMatch(t, TCPDport, "80", true)}, Verdict: Verdict{Kind: Drop}},
	}}
	udpPkt := &Packet{L2: true, Data: pkt4([4]byte{1, 1, 1, 1}, [4]byte{2, 2, 2, 2}, ProtoUDP, udp(1, 2))}
	if r := Eval(nil, c, udpPkt); r.Verdict.Kind != Accept {
		t.Fatalf("tcp.dport not 80 matched a UDP packet: %+v", r)
	}
	tcpPkt := &Packet{L2: true, Data: pkt4([4]byte{1, 1, 1, 1}, [4]byte{2, 2, 2, 2}, ProtoTCP, tcp(1, 81, 0x02))}
	if r := Eval(nil, c, tcpPkt); r.Verdict.Kind != Drop {
		t.Fatalf("tcp.dport not 80 did not match dport 81: %+v", r)
	}
}

func TestEvalTruncatedAndFragments(t *testing.T) {
	c := &Chain{Name: "c", Hook: HookXDP, Policy: Verdict{Kind: Accept}, Rules: []*Rule{
		{Matches: []Match{eqMatch(t, UDPDport, "53", false)}, Verdict: Verdict{Kind: Drop}},
		{Matches: []Match{eqMatch(t, MetaL4Proto, "udp", false)}, Verdict: Verdict{Kind: Next}},
	}}
	full := pkt4([4]byte{1, 1, 1, 1}, [4]byte{2, 2, 2, 2}, ProtoUDP, udp(1, 53))
	trunc := full[:len(full)-4]
	r := Eval(nil, c, &Packet{L2: true, Data: trunc})
	if !r.ParseError || r.Verdict.Kind != Next {
		t.Fatalf("truncated UDP: got %+v, want parse error and NEXT via meta.l4_proto", r)
	}
	frag := append([]byte(nil), full...)
	binary.BigEndian.PutUint16(frag[14+6:], 10) // fragment offset 10
	r = Eval(nil, c, &Packet{L2: true, Data: frag})
	if r.ParseError || r.Verdict.Kind != Next {
		t.Fatalf("non-first fragment: got %+v, want no L4 header, NEXT", r)
	}
	if r := Eval(nil, c, &Packet{L2: true, Data: full[:10]}); !r.ParseError || r.Verdict.Kind != Accept {
		t.Fatalf("runt frame: got %+v, want parse error and policy", r)
	}
}

func TestEvalIPv6ExtHeaders(t *testing.T) {
	b := make([]byte, 14+40+8+8)
	binary.BigEndian.PutUint16(b[12:], EthPIPv6)
	ip := b[14:]
	ip[0] = 0x60
	ip[6] = 0 // hop-by-hop
	ip[7] = 64
	hop := ip[40:]
	hop[0] = ProtoUDP
	hop[1] = 0 // 8 bytes
	copy(hop[8:], udp(5, 5353))
	c := &Chain{Name: "c", Hook: HookXDP, Policy: Verdict{Kind: Accept}, Rules: []*Rule{
		{Matches: []Match{eqMatch(t, IP6Nexthdr, "hop", false), eqMatch(t, UDPDport, "5353", false)}, Verdict: Verdict{Kind: Drop}},
	}}
	if r := Eval(nil, c, &Packet{L2: true, Data: b}); r.Verdict.Kind != Drop || r.ParseError {
		t.Fatalf("got %+v, want DROP through the hop-by-hop header", r)
	}
}

func TestEvalSetsAndOps(t *testing.T) {
	v1, _ := mustParse(t, IP4Saddr, "198.18.0.1")
	port, _ := mustParse(t, UDPDport, "53")
	net, _ := mustParse(t, IP4Snet, "198.18.0.0/16")
	c := &Chain{Name: "c", Hook: HookXDP, Policy: Verdict{Kind: Accept},
		Sets: []*Set{
			{Name: "pair", Key: []Field{IP4Saddr, UDPDport}, Elems: []SetElem{{Key: append(append([]byte{}, v1...), port...)}}},
			{Name: "nets", Key: []Field{IP4Snet}, Elems: []SetElem{{Key: net, PrefixLen: 16}}},
		},
	}
	lo, _ := mustParse(t, UDPSport, "1000")
	hi, _ := mustParse(t, UDPSport, "2000")
	syn, _ := mustParse(t, TCPFlags, "syn")
	synack, _ := mustParse(t, TCPFlags, "syn,ack")
	c.Rules = []*Rule{
		{Matches: []Match{{Field: IP4Saddr, Op: OpIn, Set: "pair"}}, Verdict: Verdict{Kind: Drop}},
		{Matches: []Match{{Field: UDPSport, Op: OpRange, Value: lo, High: hi}}, Verdict: Verdict{Kind: Next}},
		{Matches: []Match{{Field: TCPFlags, Op: OpAll, Value: synack}}, Verdict: Verdict{Kind: Drop}},
		{Matches: []Match{{Field: TCPFlags, Op: OpAny, Value: syn}}, Verdict: Verdict{Kind: Next}},
		{Matches: []Match{{Field: IP4Snet, Op: OpIn, Set: "nets", Negate: true}}, Verdict: Verdict{Kind: Drop}},
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		data []byte
		want VerdictKind
		rule int
	}{
		{"set pair hit", pkt4([4]byte{198, 18, 0, 1}, [4]byte{9, 9, 9, 9}, ProtoUDP, udp(1, 53)), Drop, 0},
		{"range hit", pkt4([4]byte{198, 18, 0, 1}, [4]byte{9, 9, 9, 9}, ProtoUDP, udp(1500, 54)), Next, 1},
		{"range edge", pkt4([4]byte{198, 18, 0, 1}, [4]byte{9, 9, 9, 9}, ProtoUDP, udp(2000, 54)), Next, 1},
		{"all flags", pkt4([4]byte{198, 18, 0, 1}, [4]byte{9, 9, 9, 9}, ProtoTCP, tcp(1, 2, 0x12|0x01)), Drop, 2},
		{"any flags", pkt4([4]byte{198, 18, 0, 1}, [4]byte{9, 9, 9, 9}, ProtoTCP, tcp(1, 2, 0x02)), Next, 3},
		{"not in nets", pkt4([4]byte{10, 0, 0, 1}, [4]byte{9, 9, 9, 9}, ProtoUDP, udp(1, 2)), Drop, 4},
		{"in nets", pkt4([4]byte{198, 18, 200, 1}, [4]byte{9, 9, 9, 9}, ProtoUDP, udp(1, 2)), Accept, -1},
	}
	for _, tc := range cases {
		r := Eval(nil, c, &Packet{L2: true, Data: tc.data})
		if r.Verdict.Kind != tc.want || r.Rule != tc.rule {
			t.Errorf("%s: got %s by rule %d, want %s by rule %d", tc.name, r.Verdict.Kind, r.Rule, tc.want, tc.rule)
		}
	}
}

func TestEvalJumpGotoReturn(t *testing.T) {
	user := &Chain{Name: "u", User: true, Policy: Verdict{Kind: Return}, Rules: []*Rule{
		{Matches: []Match{eqMatch(t, UDPDport, "53", false)}, Verdict: Verdict{Kind: Drop}},
		{Verdict: Verdict{Kind: Return}},
		{Verdict: Verdict{Kind: Accept}},
	}}
	base := &Chain{Name: "b", Hook: HookNFLocalIn, Policy: Verdict{Kind: Drop}, Rules: []*Rule{
		{Verdict: Verdict{Kind: Jump, Chain: "u"}},
		{Matches: []Match{eqMatch(t, UDPDport, "54", false)}, Verdict: Verdict{Kind: Accept}},
	}}
	rs := &Ruleset{Chains: []*Chain{base, user}}
	p53 := &Packet{L3Proto: EthPIP, Data: pkt4([4]byte{1, 1, 1, 1}, [4]byte{2, 2, 2, 2}, ProtoUDP, udp(1, 53))[14:]}
	if r := Eval(rs, base, p53); r.Verdict.Kind != Drop || r.Chain != "u" || r.Rule != 0 {
		t.Fatalf("jump: got %+v", r)
	}
	p54 := &Packet{L3Proto: EthPIP, Data: pkt4([4]byte{1, 1, 1, 1}, [4]byte{2, 2, 2, 2}, ProtoUDP, udp(1, 54))[14:]}
	if r := Eval(rs, base, p54); r.Verdict.Kind != Accept || r.Chain != "b" || r.Rule != 1 {
		t.Fatalf("return then accept: got %+v", r)
	}
	base.Rules[0].Verdict.Kind = Goto
	if r := Eval(rs, base, p54); r.Verdict.Kind != Drop || r.Rule != -1 {
		t.Fatalf("goto+return: got %+v, want the base policy", r)
	}
}

func TestFlowHashKnownValue(t *testing.T) {
	// Pin the function: the backend implements the same arithmetic.
	h := FlowHash([]byte{198, 18, 0, 1}, []byte{198, 18, 0, 2}, 1000, 53, ProtoUDP)
	h2 := FlowHash([]byte{198, 18, 0, 1}, []byte{198, 18, 0, 2}, 1000, 54, ProtoUDP)
	if h == h2 {
		t.Fatalf("hash ignores the port")
	}
	x := uint32(0x9e3779b9)
	for _, w := range []uint32{0xc6120001, 0xc6120002, 1000<<16 | 53, 17} {
		x = (x ^ w) * 0x01000193
	}
	if h != x {
		t.Fatalf("FlowHash = %#x, want %#x", h, x)
	}
}
