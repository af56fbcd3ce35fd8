package backend

import (
	"testing"

	"github.com/bpfilter-go/bpfilter/internal/testpkt"
	"github.com/bpfilter-go/bpfilter/ir"
)

// TestXTL4BigChain: 5000 `-p tcp -m tcp --dport N` rules: the fast body
// keeps its lookups, the slow body is split over chained programs after
// the fast one, and both agree with ir.Eval.
func TestXTL4BigChain(t *testing.T) {
	if testing.Short() {
		t.Skip("5000-rule chain: skipped with -short")
	}
	c := &ir.Chain{Name: "big", Hook: ir.HookNFForward, Policy: ir.Verdict{Kind: ir.Accept}}
	for i := 0; i < 5000; i++ {
		p := uint16(1000 + i)
		c.Rules = append(c.Rules, &ir.Rule{Matches: []ir.Match{
			{Field: ir.IP4Proto, Op: ir.OpEq, Value: []byte{ir.ProtoTCP}}, ir.XTL4Match(ir.XTL4TCP),
			{Field: ir.TCPDport, Op: ir.OpEq, Value: []byte{byte(p >> 8), byte(p)}},
		}, Counter: true, Verdict: ir.Verdict{Kind: []ir.VerdictKind{ir.Accept, ir.Drop}[i%2]}})
	}
	l := compileAndLoad(t, c)
	if _, ok := l.prog.Spec.Maps[ActionsMap]; !ok {
		t.Fatal("the port rules were not turned into lookups")
	}
	n := 0
	for name := range l.prog.Spec.Programs {
		if name != ProgramName {
			n++
		}
	}
	if n < 3 {
		t.Fatalf("%d programs besides the fast one, want a slow body split over at least 3", n)
	}
	tcp := func(dport uint16, n int) []byte {
		return ip4(testpkt.IPv4{Src: a4("198.18.0.1"), Dst: a4("198.18.0.2"), Proto: ir.ProtoTCP, TTL: 64},
			testpkt.TCP{Sport: 1, Dport: dport, Flags: testpkt.SYN}.Encode()[:n])
	}
	for _, fr := range [][]byte{tcp(1001, 20), tcp(5999, 20), tcp(7000, 20), tcp(5999, 10), tcp(5999, 4)} {
		checkPacketCounters(t, l, c, testPacket{frame: fr}, func() string { return "big chain" })
	}
}
