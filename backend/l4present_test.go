package backend

import (
	"fmt"
	"testing"

	"github.com/bpfilter-go/bpfilter/internal/testpkt"
	"github.com/bpfilter-go/bpfilter/ir"
)

// TestL4PresentMatch: "port & 0 == 0", which the iptables translator
// emits for `-p tcp -m tcp` and `-p udp -m udp` testing nothing else,
// holds exactly when the transport header is there: verdicts and counters
// agree with ir.Eval on well-formed, fragmented and truncated packets, next
// to rules the optimiser turns into lookups.
func TestL4PresentMatch(t *testing.T) {
	present := func(f ir.Field) ir.Match {
		return ir.Match{Field: f, Op: ir.OpEq, Value: []byte{0, 0}, Mask: []byte{0, 0}}
	}
	proto := func(p uint8) ir.Match { return ir.Match{Field: ir.IP4Proto, Op: ir.OpEq, Value: []byte{p}} }
	dport := func(f ir.Field, p uint16) ir.Match {
		return ir.Match{Field: f, Op: ir.OpEq, Value: []byte{byte(p >> 8), byte(p)}}
	}
	rules := []*ir.Rule{
		{Matches: []ir.Match{proto(ir.ProtoTCP), dport(ir.TCPDport, 22)}, Counter: true, Verdict: ir.Verdict{Kind: ir.Accept}},
		{Matches: []ir.Match{proto(ir.ProtoTCP), dport(ir.TCPDport, 80)}, Counter: true, Verdict: ir.Verdict{Kind: ir.Accept}},
		{Matches: []ir.Match{proto(ir.ProtoTCP), present(ir.TCPSport)}, Counter: true, Verdict: ir.Verdict{Kind: ir.Continue}},
		{Matches: []ir.Match{proto(ir.ProtoUDP), dport(ir.UDPDport, 53)}, Counter: true, Verdict: ir.Verdict{Kind: ir.Accept}},
		{Matches: []ir.Match{proto(ir.ProtoUDP), dport(ir.UDPDport, 5353)}, Counter: true, Verdict: ir.Verdict{Kind: ir.Accept}},
		{Matches: []ir.Match{proto(ir.ProtoUDP), present(ir.UDPSport)}, Counter: true, Verdict: ir.Verdict{Kind: ir.Drop}},
		{Matches: []ir.Match{proto(ir.ProtoTCP), present(ir.TCPSport)}, Counter: true, Verdict: ir.Verdict{Kind: ir.Drop}},
	}
	tcp := testpkt.TCP{Sport: 1234, Dport: 443, Flags: testpkt.SYN}.Encode()
	udp := testpkt.UDP{Sport: 1, Dport: 2}.Encode(1, 2, 3, 4)
	v4 := func(p uint8, off uint16, l4 []byte) []byte {
		return ip4(testpkt.IPv4{Src: a4("198.18.0.1"), Dst: a4("198.18.0.2"), Proto: p, TTL: 64, FragOffset: off}, l4)
	}
	frames := map[string][]byte{
		"tcp": v4(ir.ProtoTCP, 0, tcp), "tcp frag 1": v4(ir.ProtoTCP, 1, tcp), "tcp frag 2": v4(ir.ProtoTCP, 2, tcp),
		"tcp 10 bytes": v4(ir.ProtoTCP, 0, tcp[:10]), "udp": v4(ir.ProtoUDP, 0, udp),
		"udp frag": v4(ir.ProtoUDP, 3, udp), "udp 4 bytes": v4(ir.ProtoUDP, 0, udp[:4]),
	}
	// Fragments and truncated headers miss the "present" rules (the
	// kernel's hotdrop of the truncated ones is not modelled yet).
	want := map[string]ir.VerdictKind{
		"tcp": ir.Drop, "tcp frag 1": ir.Accept, "tcp frag 2": ir.Accept, "tcp 10 bytes": ir.Accept,
		"udp": ir.Drop, "udp frag": ir.Accept, "udp 4 bytes": ir.Accept,
	}
	for _, h := range []ir.Hook{ir.HookNFLocalIn, ir.HookNFForward, ir.HookNFLocalOut} {
		c := &ir.Chain{Name: "l4present", Hook: h, Policy: ir.Verdict{Kind: ir.Accept}, Rules: rules}
		l := compileAndLoad(t, c)
		if _, ok := l.prog.Spec.Maps[ActionsMap]; !ok {
			t.Fatalf("%s: the port rules were not turned into lookups", h)
		}
		for name, fr := range frames {
			checkPacketCounters(t, l, c, testPacket{frame: fr}, func() string { return fmt.Sprintf("%s: %s", h, name) })
			if got := ir.Eval(nil, c, evalPacket(h, testPacket{frame: fr})).Verdict.Kind; got != want[name] {
				t.Errorf("%s: %s: ir.Eval verdict %s, want %s", h, name, got, want[name])
			}
		}
	}
}
