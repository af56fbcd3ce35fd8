package rulegen

import (
	"math/rand"

	"github.com/bpfilter-go/bpfilter/ir"
)

// gen draws filler rules.
type gen struct {
	rng *rand.Rand
}

// addr10 returns the i-th distinct address of 10.0.0.0/8 (a bijection of
// i mod 2^24, so up to 16M rules get distinct addresses).
func addr10(i int) []byte {
	x := (uint32(i)*2654435761 + 12345) & 0xffffff
	return []byte{10, byte(x >> 16), byte(x >> 8), byte(x)}
}

var (
	tcpPorts   = []uint16{21, 22, 25, 53, 80, 110, 111, 113, 143, 443, 465, 587, 993, 995, 3306, 5432, 6379, 8080, 8443, 9100}
	udpPorts   = []uint16{53, 67, 68, 123, 137, 138, 161, 500, 514, 520, 1194, 4500, 5353, 51820}
	portRanges = [][2]uint16{{137, 139}, {6000, 6063}, {1024, 65535}, {33434, 33534}, {49152, 65535}, {8000, 8099}, {60000, 61000}}
	icmpTypes  = []uint8{0, 3, 8, 11, 12}
	ifaces     = []uint32{1, 2, 3, 4}
	prefixLens = []int{8, 12, 16, 24}
)

func (g *gen) pick16(s []uint16) uint16 { return s[g.rng.Intn(len(s))] }

// randNet returns a random private/documentation network address with a
// common prefix length.
func (g *gen) randNet() ([]byte, []byte) {
	l := prefixLens[g.rng.Intn(len(prefixLens))]
	a := []byte{byte(g.rng.Intn(256)), byte(g.rng.Intn(256)), byte(g.rng.Intn(256)), byte(g.rng.Intn(256))}
	switch g.rng.Intn(3) {
	case 0:
		a[0] = 10
	case 1:
		a[0], a[1] = 172, 16|a[1]&0x0f
	default:
		a[0], a[1] = 192, 168
	}
	m := ir.PrefixMask(l, 4)
	for i := range a {
		a[i] &= m[i]
	}
	return a, m
}

func (g *gen) verdict(acceptPct int) ir.Verdict {
	if g.rng.Intn(100) < acceptPct {
		return ir.Verdict{Kind: ir.Accept}
	}
	return ir.Verdict{Kind: ir.Drop}
}

func proto(p uint8) ir.Match { return eq(ir.MetaL4Proto, []byte{p}) }

func (g *gen) sourceAddr(i int) *ir.Rule {
	return &ir.Rule{Counter: true, Verdict: ir.Verdict{Kind: ir.Drop}, Matches: []ir.Match{eq(ir.IP4Saddr, addr10(i))}}
}

// mix draws one rule of a realistic host firewall. The weights follow the
// shapes of real iptables-save dumps: address blocklists dominate large
// rulesets, then trusted networks, per-interface service ports, ranges.
func (g *gen) mix(i int) *ir.Rule {
	r := &ir.Rule{Counter: true}
	iface := eq(ir.MetaIface, []byte{0, 0, 0, byte(ifaces[g.rng.Intn(len(ifaces))])})
	x := g.rng.Intn(100)
	switch {
	case x < 30: // blocklisted host
		r.Matches = []ir.Match{eq(ir.IP4Saddr, addr10(i))}
		r.Verdict = ir.Verdict{Kind: ir.Drop}
	case x < 45: // network on an interface (anti-spoofing, trusted nets)
		a, m := g.randNet()
		r.Matches = []ir.Match{iface, {Field: ir.IP4Snet, Op: ir.OpEq, Value: a, Mask: m}}
		r.Verdict = g.verdict(40)
	case x < 60: // TCP service on an interface
		r.Matches = []ir.Match{iface, proto(ir.ProtoTCP), eq(ir.TCPDport, u16(g.pick16(tcpPorts)))}
		r.Verdict = g.verdict(80)
	case x < 68: // UDP service on an interface
		r.Matches = []ir.Match{iface, proto(ir.ProtoUDP), eq(ir.UDPDport, u16(g.pick16(udpPorts)))}
		r.Verdict = g.verdict(80)
	case x < 73: // TCP port range
		pr := portRanges[g.rng.Intn(len(portRanges))]
		r.Matches = []ir.Match{proto(ir.ProtoTCP), {Field: ir.TCPDport, Op: ir.OpRange, Value: u16(pr[0]), High: u16(pr[1])}}
		r.Verdict = g.verdict(50)
	case x < 76: // UDP port range from a host
		pr := portRanges[g.rng.Intn(len(portRanges))]
		r.Matches = []ir.Match{eq(ir.IP4Saddr, addr10(i)), proto(ir.ProtoUDP), {Field: ir.UDPDport, Op: ir.OpRange, Value: u16(pr[0]), High: u16(pr[1])}}
		r.Verdict = g.verdict(50)
	case x < 84: // published service on one address
		r.Matches = []ir.Match{eq(ir.IP4Daddr, addr10(i)), proto(ir.ProtoTCP), eq(ir.TCPDport, u16(g.pick16(tcpPorts)))}
		r.Verdict = ir.Verdict{Kind: ir.Accept}
	case x < 90: // service from an admin network
		a, m := g.randNet()
		r.Matches = []ir.Match{{Field: ir.IP4Snet, Op: ir.OpEq, Value: a, Mask: m}, proto(ir.ProtoTCP), eq(ir.TCPDport, u16(g.pick16(tcpPorts)))}
		r.Verdict = ir.Verdict{Kind: ir.Accept}
	case x < 93: // ICMP type on an interface
		r.Matches = []ir.Match{iface, proto(ir.ProtoICMP), eq(ir.ICMPType, []byte{icmpTypes[g.rng.Intn(len(icmpTypes))]})}
		r.Verdict = ir.Verdict{Kind: ir.Accept}
	case x < 95: // whole interface
		r.Matches = []ir.Match{iface}
		r.Verdict = g.verdict(50)
	case x < 98: // destination network
		a, m := g.randNet()
		r.Matches = []ir.Match{{Field: ir.IP4Dnet, Op: ir.OpEq, Value: a, Mask: m}}
		r.Verdict = g.verdict(30)
	default: // host pair
		r.Matches = []ir.Match{eq(ir.IP4Saddr, addr10(i)), eq(ir.IP4Daddr, addr10(i+1))}
		r.Verdict = g.verdict(50)
	}
	return r
}
