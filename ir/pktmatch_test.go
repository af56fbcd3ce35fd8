package ir

import (
	"bytes"
	"testing"
)

// pktMatchFields are the fields of the iptables packet matches
// (pktmatch.go); the upstream comparisons skip them.
var pktMatchFields = map[string]bool{"meta.pkttype": true, "eth.saddr": true, "tcp.option": true, "tcp.port": true, "udp.port": true}

func TestPktMatchFieldTable(t *testing.T) {
	for _, f := range Fields() {
		if !pktMatchFields[f.String()] {
			continue
		}
		fi := f.Info()
		if fi.InSet || !fi.Compound || !f.SupportsOp(OpEq) || f.SupportsOp(OpAny) {
			t.Errorf("%s: wrong set, compound or operator support", f)
		}
		ports := f == TCPPort || f == UDPPort
		if f.SupportsOp(OpRange) != ports || f.SupportsOp(OpRanges) != ports {
			t.Errorf("%s: range support is wrong", f)
		}
		for _, h := range Hooks() {
			var want bool
			switch f {
			case MetaPktType:
				want = h.Flavour() == FlavourNF || h.Flavour() == FlavourTC
			case MetaMACSaddr:
				want = h == HookNFPreRouting || h == HookNFLocalIn || h == HookNFForward
			default:
				want = !h.IsSockAddr()
			}
			if f.ValidOn(h) != want {
				t.Errorf("%s on %s: ValidOn = %v, want %v", f, h, !want, want)
			}
		}
	}
	for _, f := range []Field{IP6Saddr, IP6Daddr} {
		if !f.SupportsOp(OpRanges) || f.SupportsOp(OpRange) {
			t.Errorf("%s: want ranges (ip6tables iprange) and no range", f)
		}
	}
}

func TestMACValues(t *testing.T) {
	v, _, err := KindMAC.Parse("00:1A:2b:3c:4D:ff", ParseEnv{})
	if err != nil || !bytes.Equal(v, []byte{0, 0x1a, 0x2b, 0x3c, 0x4d, 0xff}) {
		t.Fatalf("parse: % x, %v", v, err)
	}
	if s := KindMAC.Format(v, nil); s != "00:1a:2b:3c:4d:ff" {
		t.Errorf("format: %s", s)
	}
	for _, bad := range []string{"", "00:11:22:33:44", "00:11:22:33:44:55:66", "0:11:22:33:44:55", "00:11:22:33:44:gg"} {
		if _, _, err := KindMAC.Parse(bad, ParseEnv{}); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// tcpWithOptions returns a TCP header (20 bytes plus opts, padded to a
// multiple of 4 unless raw) followed by payload.
func tcpWithOptions(opts []byte, doff int, payload ...byte) []byte {
	h := make([]byte, 20)
	h[12] = byte(doff << 4)
	h = append(h, opts...)
	return append(h, payload...)
}

func TestTCPOptionPresent(t *testing.T) {
	mss := []byte{2, 4, 5, 0xb4}
	for _, c := range []struct {
		name      string
		l4        []byte
		kind      uint8
		found, ok bool
	}{
		{"mss", tcpWithOptions(mss, 6), 2, true, true},
		{"mss not ts", tcpWithOptions(mss, 6), 8, false, true},
		{"no options", tcpWithOptions(nil, 5), 2, false, true},
		{"nop nop ts", tcpWithOptions([]byte{1, 1, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0}, 8), 8, true, true},
		// EOL does not stop the walk (tcp_find_option only steps over it).
		{"eol then sack-perm", tcpWithOptions([]byte{0, 4, 2, 0}, 6), 4, true, true},
		// A zero length steps one byte: the next byte is read as a kind.
		{"zero length", tcpWithOptions([]byte{9, 0, 5, 0}, 6), 5, true, true},
		// A length that jumps over a kind hides it.
		{"jump over", tcpWithOptions([]byte{9, 3, 5, 0}, 6), 5, false, true},
		// The kind is tested at the start of each step, also on the last byte.
		{"last byte", tcpWithOptions([]byte{1, 1, 1, 30}, 6), 30, true, true},
		{"length past the end", tcpWithOptions([]byte{3, 40, 1, 1}, 6), 1, false, true},
		{"doff below 5", tcpWithOptions(nil, 4), 2, false, false},
		{"truncated options", tcpWithOptions(mss, 7), 2, false, false},
		{"truncated header", make([]byte, 12), 2, false, false},
	} {
		found, ok := TCPOptionPresent(c.l4, c.kind)
		if found != c.found || ok != c.ok {
			t.Errorf("%s: found=%v ok=%v, want %v %v", c.name, found, ok, c.found, c.ok)
		}
	}
}

func ip4TCP(daddr byte, l4 []byte) *Packet {
	ip := make([]byte, 20)
	ip[0], ip[9] = 0x45, ProtoTCP
	ip[16] = daddr
	return &Packet{Data: append(ip, l4...), L3Proto: EthPIP}
}

func TestPktMatchEval(t *testing.T) {
	syn := tcpWithOptions([]byte{2, 4, 5, 0xb4}, 6)
	syn[0], syn[1], syn[2], syn[3] = 0x04, 0xd2, 0, 80 // 1234 -> 80
	c := &Chain{Name: "c", Hook: HookNFLocalIn}
	eval := func(m Match, p *Packet) bool {
		pp := Parse(p)
		return MatchHolds(c, &m, p, &pp)
	}
	u8 := func(f Field, v byte, neg bool) Match { return Match{Field: f, Op: OpEq, Value: []byte{v}, Negate: neg} }
	port := func(f Field, v uint16, neg bool) Match {
		return Match{Field: f, Op: OpEq, Value: KindPort.UintValue(uint64(v)), Negate: neg}
	}
	for _, x := range []struct {
		name string
		m    Match
		p    *Packet
		want bool
	}{
		{"option mss", u8(TCPOption, 2, false), ip4TCP(1, syn), true},
		{"! option mss", u8(TCPOption, 2, true), ip4TCP(1, syn), false},
		{"! option ts", u8(TCPOption, 8, true), ip4TCP(1, syn), true},
		{"option on bad doff", u8(TCPOption, 2, true), ip4TCP(1, tcpWithOptions(nil, 3)), false},
		{"port is sport", port(TCPPort, 1234, false), ip4TCP(1, syn), true},
		{"port is dport", port(TCPPort, 80, false), ip4TCP(1, syn), true},
		{"port is neither", port(TCPPort, 81, false), ip4TCP(1, syn), false},
		{"! port neither", port(TCPPort, 81, true), ip4TCP(1, syn), true},
		{"! port dport", port(TCPPort, 80, true), ip4TCP(1, syn), false},
		{"udp.port on tcp", port(UDPPort, 80, true), ip4TCP(1, syn), false},
		{"port ranges", Match{Field: TCPPort, Op: OpRanges, Value: []byte{0, 1, 0x04, 0xd0}, High: []byte{0, 2, 0x04, 0xd2}}, ip4TCP(1, syn), true},
		{"pkttype host", u8(MetaPktType, PacketHost, false), ip4TCP(1, syn), true},
		{"loopback v4 unicast is broadcast", u8(MetaPktType, PacketBroadcast, false), func() *Packet { p := ip4TCP(1, syn); p.PktType = PacketLoopback; return p }(), true},
		{"loopback v4 224/4 is multicast", u8(MetaPktType, PacketMulticast, false), func() *Packet { p := ip4TCP(239, syn); p.PktType = PacketLoopback; return p }(), true},
		{"loopback never reads as loopback", u8(MetaPktType, PacketLoopback, false), func() *Packet { p := ip4TCP(239, syn); p.PktType = PacketLoopback; return p }(), false},
		{"mac absent", Match{Field: MetaMACSaddr, Op: OpEq, Value: make([]byte, 6), Negate: true}, ip4TCP(1, syn), false},
		{"mac", Match{Field: MetaMACSaddr, Op: OpEq, Value: []byte{2, 0, 0, 0, 0, 1}}, func() *Packet {
			p := ip4TCP(1, syn)
			p.MACHeader = []byte{1, 2, 3, 4, 5, 6, 2, 0, 0, 0, 0, 1, 8, 0}
			return p
		}(), true},
	} {
		if got := eval(x.m, x.p); got != x.want {
			t.Errorf("%s: %v, want %v", x.name, got, x.want)
		}
	}
}

func TestTCPOptionHotDrop(t *testing.T) {
	bad := tcpWithOptions(nil, 4)
	bad[2], bad[3] = 0, 81
	opt := Match{Field: TCPOption, Op: OpEq, Value: []byte{2}}
	port := func(p byte) Match { return Match{Field: TCPDport, Op: OpEq, Value: []byte{0, p}} }
	c := &Chain{Name: "c", Hook: HookNFLocalIn, Policy: Verdict{Kind: Accept}, Rules: []*Rule{
		{Matches: []Match{port(80), opt}, Verdict: Verdict{Kind: Accept}},                                             // port differs: not reached
		{Matches: []Match{{Field: MetaL4Proto, Op: OpEq, Value: []byte{ProtoTCP}}}, Verdict: Verdict{Kind: Continue}}, // counts
		{Matches: []Match{port(81), opt, port(99)}, Verdict: Verdict{Kind: Accept}},                                   // reached: hotdrop
		{Verdict: Verdict{Kind: Accept}},
	}}
	res := Eval(nil, c, ip4TCP(1, bad))
	if !res.HotDrop || res.Verdict.Kind != Drop || res.Rule != 2 || len(res.Hits) != 1 || res.Hits[0].Rule != 1 {
		t.Errorf("bad data offset: %+v, want a hot drop at rule 2 after rule 1 counted", res)
	}
	good := tcpWithOptions([]byte{2, 4, 5, 0xb4}, 6)
	good[2], good[3] = 0, 81
	if res := Eval(nil, c, ip4TCP(1, good)); res.HotDrop || res.Verdict.Kind != Accept || res.Rule != 3 {
		t.Errorf("good header: %+v", res)
	}
	m, hot := RuleOutcome(c, c.Rules[0], ip4TCP(1, bad), func() *Parsed { pp := Parse(ip4TCP(1, bad)); return &pp }())
	if m || hot {
		t.Errorf("rule 0: matched=%v hot=%v, want neither (its port match fails first)", m, hot)
	}
}

// A match on a header the packet lacks makes the rule miss before the
// hot drop of an earlier tcp.option match (the backend checks guards
// first).
func TestTCPOptionHotDropGuards(t *testing.T) {
	bad := tcpWithOptions(nil, 4)
	c := &Chain{Name: "c", Hook: HookXDP, Policy: Verdict{Kind: Accept}, Rules: []*Rule{
		{Matches: []Match{{Field: TCPOption, Op: OpEq, Value: []byte{8}}, {Field: IP6Snet, Op: OpEq, Value: make([]byte, 16), Mask: make([]byte, 16)}}, Verdict: Verdict{Kind: Accept}},
	}}
	if res := Eval(nil, c, ip4TCP(1, bad)); res.HotDrop || res.Rule != -1 {
		t.Errorf("%+v: want the policy", res)
	}
}
