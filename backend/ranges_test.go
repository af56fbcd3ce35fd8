package backend

import (
	"testing"

	"github.com/bpfilter-go/bpfilter/internal/testpkt"
	"github.com/bpfilter-go/bpfilter/ir"
)

func rangesMatch(f ir.Field, neg bool, bounds ...uint16) ir.Match {
	m := ir.Match{Field: f, Op: ir.OpRanges, Negate: neg}
	for i := 0; i+1 < len(bounds); i += 2 {
		m.Value = append(m.Value, byte(bounds[i]>>8), byte(bounds[i]))
		m.High = append(m.High, byte(bounds[i+1]>>8), byte(bounds[i+1]))
	}
	return m
}

// TestRangesMatchEval compares OpRanges matches with ir.Eval on every
// packet hook, with boundary ports.
func TestRangesMatchEval(t *testing.T) {
	ms := []ir.Match{
		rangesMatch(ir.TCPDport, false, 22, 22, 80, 90, 65535, 65535),
		rangesMatch(ir.TCPDport, true, 22, 22, 80, 90, 65535, 65535),
		rangesMatch(ir.UDPSport, false, 0, 0, 53, 53),
		rangesMatch(ir.MetaDport, false, 1, 1023),
		rangesMatch(ir.MetaSport, true, 1000, 1000, 2000, 3000),
	}
	full := make([]uint16, 0, 2*ir.MaxRanges)
	for i := 0; i < ir.MaxRanges; i++ {
		full = append(full, uint16(100*i), uint16(100*i+10))
	}
	ms = append(ms, rangesMatch(ir.TCPSport, false, full...))
	// IPv4 address ranges (iptables iprange): 198.18.0.1-198.18.0.2, and a
	// range crossing the sign bit of 32-bit compares.
	ms = append(ms,
		ir.Match{Field: ir.IP4Saddr, Op: ir.OpRanges, Value: []byte{198, 18, 0, 1}, High: []byte{198, 18, 0, 2}},
		ir.Match{Field: ir.IP4Daddr, Op: ir.OpRanges, Negate: true, Value: []byte{198, 18, 0, 2}, High: []byte{198, 18, 0, 2}},
		ir.Match{Field: ir.IP4Saddr, Op: ir.OpRanges, Value: []byte{127, 0, 0, 0, 198, 18, 0, 1}, High: []byte{128, 0, 0, 1, 198, 18, 0, 1}},
	)
	ports := []uint16{0, 1, 21, 22, 23, 53, 79, 80, 85, 90, 91, 110, 111, 999, 1000, 1023, 1024, 1405, 1410, 1411, 2500, 3001, 65534, 65535}
	for _, h := range ir.Hooks() {
		if h.IsSockAddr() {
			continue
		}
		for _, m := range ms {
			c := &ir.Chain{Name: "ranges", Hook: h, Policy: ir.Verdict{Kind: ir.Accept}, Rules: []*ir.Rule{
				{Matches: []ir.Match{m}, Verdict: ir.Verdict{Kind: ir.Drop}},
			}}
			l := compileAndLoad(t, c)
			var hits int
			for _, p := range ports {
				for _, fr := range [][]byte{
					tcp4("198.18.0.1", "198.18.0.2", p, p^0x5a5a, 0),
					tcp4("198.18.0.1", "198.18.0.2", 7, p, 0),
					tcp4("198.18.0.9", "198.18.0.3", p, 7, 0),
					testpkt.Ethernet(testpkt.EthIPv4, testpkt.IPv4{Src: testpkt.Addr("198.18.0.1"), Dst: testpkt.Addr("198.18.0.2"), Proto: testpkt.ProtoUDP}.
						Encode(testpkt.UDP{Sport: p, Dport: p}.Encode())),
				} {
					if l.check(t, testPacket{frame: fr}).Rule == 0 {
						hits++
					}
				}
			}
			if hits == 0 || hits == 4*len(ports) {
				t.Errorf("%s: %s matched %d of %d packets: no coverage of both outcomes", h, m, hits, 4*len(ports))
			}
		}
	}
}
