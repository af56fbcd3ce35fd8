package optimizer

import (
	"encoding/binary"
	"math/rand"

	"github.com/bpfilter-go/bpfilter/ir"
)

// Random rulesets and packets for the property tests. Values come from
// small pools so rules overlap, share shapes and hit packets often.

var (
	poolV4    = [][]byte{{198, 18, 0, 1}, {198, 18, 0, 2}, {198, 18, 1, 1}, {198, 18, 1, 200}, {198, 19, 0, 1}, {10, 0, 0, 1}}
	poolV6    = [][]byte{v6(1), v6(2), v6(0x100)}
	poolPorts = []uint16{0, 1, 52, 53, 54, 79, 80, 81, 443, 1023, 1024, 1025, 8080, 65534, 65535}
	poolProto = []uint8{ir.ProtoTCP, ir.ProtoUDP, ir.ProtoICMP, ir.ProtoICMPv6, 47}
)

func v6(last uint16) []byte {
	b := []byte{0xfd, 0, 1, 0x98, 0, 0x18, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint16(b[14:], last)
	return b
}

// rgen draws random rules; plain restricts them to classifiable ones (no
// negation, log, CONTINUE, flags or probability) so runs are long.
type rgen struct {
	rng   *rand.Rand
	plain bool
}

func (g rgen) n(k int) int { return g.rng.Intn(k) }

func (g rgen) port() uint16 { return poolPorts[g.n(len(poolPorts))] }

func be16(v uint16) []byte { return []byte{byte(v >> 8), byte(v)} }

func be32(v uint32) []byte { b := make([]byte, 4); binary.BigEndian.PutUint32(b, v); return b }

// match draws one random match valid on TC ingress.
func (g rgen) match(c *ir.Chain) ir.Match {
	var m ir.Match
	switch g.n(16) {
	case 0, 1:
		m = ir.Match{Field: ir.IP4Saddr, Value: poolV4[g.n(len(poolV4))]}
	case 2:
		m = ir.Match{Field: ir.IP4Daddr, Value: poolV4[g.n(len(poolV4))]}
	case 3, 4:
		l := []int{0, 8, 15, 16, 24, 31, 32}[g.n(7)]
		f := []ir.Field{ir.IP4Snet, ir.IP4Dnet}[g.n(2)]
		m = ir.Match{Field: f, Value: and(poolV4[g.n(len(poolV4))], ir.PrefixMask(l, 4)), Mask: ir.PrefixMask(l, 4)}
		if g.n(10) == 0 { // bits outside the mask: never matches
			m.Value = poolV4[g.n(len(poolV4))]
		}
	case 5:
		l := []int{48, 64, 120, 128}[g.n(4)]
		m = ir.Match{Field: ir.IP6Snet, Value: and(poolV6[g.n(len(poolV6))], ir.PrefixMask(l, 16)), Mask: ir.PrefixMask(l, 16)}
	case 6:
		m = ir.Match{Field: ir.IP6Daddr, Value: poolV6[g.n(len(poolV6))]}
	case 7:
		m = ir.Match{Field: []ir.Field{ir.MetaL4Proto, ir.IP4Proto}[g.n(2)], Value: []byte{poolProto[g.n(len(poolProto))]}}
	case 8, 9:
		f := []ir.Field{ir.TCPDport, ir.UDPDport, ir.MetaDport, ir.TCPSport, ir.MetaSport}[g.n(5)]
		if g.n(2) == 0 {
			m = ir.Match{Field: f, Value: be16(g.port())}
		} else {
			a, b := g.port(), g.port()
			if a > b {
				a, b = b, a
			}
			m = ir.Match{Field: f, Op: ir.OpRange, Value: be16(a), High: be16(b)}
		}
	case 10:
		m = ir.Match{Field: ir.MetaIface, Value: be32(uint32(1 + g.n(3)))}
	case 11:
		m = ir.Match{Field: ir.MetaMark, Value: be32(uint32(g.n(4)) << 8), Mask: be32(0xff00)}
	case 12:
		if g.plain {
			return ir.Match{Field: ir.IP4Snet, Value: []byte{198, 18, 0, 0}, Mask: ir.PrefixMask(16+g.n(9), 4)}
		}
		m = ir.Match{Field: ir.TCPFlags, Op: []ir.Op{ir.OpEq, ir.OpAny, ir.OpAll}[g.n(3)], Value: []byte{byte(g.n(4))}}
	case 13:
		m = ir.Match{Field: ir.ICMPType, Value: []byte{[]byte{0, 8}[g.n(2)]}}
	case 14:
		m = ir.Match{Field: ir.MetaL3Proto, Value: be16([]uint16{ir.EthPIP, ir.EthPIPv6}[g.n(2)])}
	case 15:
		if len(c.Sets) > 0 {
			m = ir.Match{Op: ir.OpIn, Set: c.Sets[g.n(len(c.Sets))].Name}
		} else {
			m = ir.Match{Field: ir.MetaProbability, Value: be32(uint32(g.n(ir.ProbabilityScale)))}
		}
	}
	if m.Field == ir.MetaProbability && g.plain && len(c.Sets) > 0 {
		return ir.Match{Op: ir.OpIn, Set: c.Sets[g.n(len(c.Sets))].Name}
	}
	if !g.plain && g.n(12) == 0 {
		m.Negate = true
	}
	return m
}

// sets draws the chain's sets: a hash set of addresses, an LPM set and a
// two-field set.
func (g rgen) sets() []*ir.Set {
	s1 := &ir.Set{Name: "hosts", Key: []ir.Field{ir.IP4Saddr}}
	for i := 0; i < g.n(4); i++ {
		s1.Elems = append(s1.Elems, ir.SetElem{Key: poolV4[g.n(len(poolV4))]})
	}
	s2 := &ir.Set{Name: "nets", Key: []ir.Field{ir.IP4Dnet}}
	for i := 0; i < 1+g.n(4); i++ {
		s2.Elems = append(s2.Elems, ir.SetElem{Key: poolV4[g.n(len(poolV4))], PrefixLen: []int{8, 16, 24, 32}[g.n(4)]})
	}
	s3 := &ir.Set{Name: "svc", Key: []ir.Field{ir.IP4Daddr, ir.TCPDport}}
	for i := 0; i < 1+g.n(4); i++ {
		s3.Elems = append(s3.Elems, ir.SetElem{Key: append(append([]byte(nil), poolV4[g.n(len(poolV4))]...), be16(g.port())...)})
	}
	return []*ir.Set{s1, s2, s3}
}

// chain draws a random TC ingress chain of n rules and a ruleset holding
// it and a user chain.
func (g rgen) chain(n int) (*ir.Ruleset, *ir.Chain) {
	c := &ir.Chain{Name: "c", Hook: ir.HookTCIngress, Policy: ir.Verdict{Kind: []ir.VerdictKind{ir.Accept, ir.Drop, ir.Next}[g.n(3)]}}
	c.Sets = g.sets()
	user := &ir.Chain{Name: "u", Hook: ir.HookTCIngress, User: true, Policy: ir.Verdict{Kind: ir.Accept}}
	for i := 0; i < 3; i++ {
		user.Rules = append(user.Rules, &ir.Rule{Matches: []ir.Match{g.match(user)}, Verdict: ir.Verdict{Kind: []ir.VerdictKind{ir.Accept, ir.Drop, ir.Return, ir.Continue}[g.n(4)]}})
	}
	for i := 0; i < n; i++ {
		r := &ir.Rule{Counter: g.n(2) == 0}
		for k := g.n(4); k > 0; k-- {
			r.Matches = append(r.Matches, g.match(c))
		}
		vk := 40
		if g.plain {
			vk = 30
		}
		switch x := g.n(vk); {
		case x < 12:
			r.Verdict = ir.Verdict{Kind: ir.Accept}
		case x < 24:
			r.Verdict = ir.Verdict{Kind: ir.Drop}
		case x < 27:
			r.Verdict = ir.Verdict{Kind: ir.Next}
		case x < 30:
			r.Verdict = ir.Verdict{Kind: ir.Redirect, Ifindex: 7}
		case x < 35:
			r.Verdict = ir.Verdict{Kind: ir.Continue}
		case x < 37:
			r.Verdict = ir.Verdict{Kind: ir.Jump, Chain: "u"}
		case x < 38:
			r.Verdict = ir.Verdict{Kind: ir.Goto, Chain: "u"}
		default:
			r.Verdict = ir.Verdict{Kind: ir.Return}
		}
		if !g.plain && g.n(10) == 0 {
			r.Log = &ir.Log{Headers: ir.LogAll}
		}
		if g.n(6) == 0 {
			mk := uint32(g.n(1000))
			r.Mark = &mk
		}
		c.Rules = append(c.Rules, r)
	}
	return &ir.Ruleset{Chains: []*ir.Chain{c, user}}, c
}

// packet draws a random Ethernet packet biased to the pools' values.
func (g rgen) packet() *ir.Packet {
	proto := poolProto[g.n(len(poolProto))]
	l4 := make([]byte, 20)
	binary.BigEndian.PutUint16(l4[0:], g.port())
	binary.BigEndian.PutUint16(l4[2:], g.port())
	l4[0] ^= byte(g.n(2)) // a little noise around pool values
	if proto == ir.ProtoICMP || proto == ir.ProtoICMPv6 {
		l4[0] = []byte{0, 8, 3}[g.n(3)]
	}
	l4[12] = 5 << 4
	l4[13] = byte(g.n(8))
	switch proto {
	case ir.ProtoUDP:
		l4 = l4[:8]
	case ir.ProtoICMP, ir.ProtoICMPv6, 47:
		l4 = l4[:8]
	}
	var data []byte
	eth := make([]byte, 14)
	if g.n(4) == 0 {
		binary.BigEndian.PutUint16(eth[12:], ir.EthPIPv6)
		ip := make([]byte, 40)
		ip[0] = 0x60
		ip[6] = proto
		copy(ip[8:], poolV6[g.n(len(poolV6))])
		copy(ip[24:], poolV6[g.n(len(poolV6))])
		data = append(append(eth, ip...), l4...)
	} else {
		binary.BigEndian.PutUint16(eth[12:], ir.EthPIP)
		ip := make([]byte, 20)
		ip[0] = 0x45
		ip[9] = proto
		copy(ip[12:], poolV4[g.n(len(poolV4))])
		copy(ip[16:], poolV4[g.n(len(poolV4))])
		if g.n(20) == 0 {
			ip[6] = 0x01 // non-first fragment
		}
		data = append(append(eth, ip...), l4...)
	}
	if g.n(25) == 0 {
		data = data[:g.n(len(data))] // truncated
	}
	if g.n(40) == 0 {
		binary.BigEndian.PutUint16(eth[12:], 0x0806)
	}
	return &ir.Packet{Data: data, L2: true, Ifindex: uint32(1 + g.n(3)), Mark: uint32(g.n(4)) << 8, Random: uint32(g.rng.Int31())}
}
