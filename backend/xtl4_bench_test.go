package backend

import (
	"fmt"
	"testing"

	"github.com/bpfilter-go/bpfilter/internal/testpkt"
	"github.com/bpfilter-go/bpfilter/ir"
)

// BenchmarkXTL4 measures a netfilter chain of 64 `-p tcp -m tcp --dport
// N -j DROP` rules with and without xt.l4 constructs, on a well-formed
// TCP packet no rule matches (fast body) and on a 10-byte TCP header
// (with constructs: the slow body, which hotdrops at the first rule).
func BenchmarkXTL4(b *testing.B) {
	frames := map[string][]byte{
		"tcp": ip4(testpkt.IPv4{Src: a4("198.18.0.1"), Dst: a4("198.18.0.2"), Proto: 6, TTL: 64},
			testpkt.TCP{Sport: 1, Dport: 9999, Flags: testpkt.SYN}.Encode()),
		"tcp10": ip4(testpkt.IPv4{Src: a4("198.18.0.1"), Dst: a4("198.18.0.2"), Proto: 6, TTL: 64},
			testpkt.TCP{Sport: 1, Dport: 9999, Flags: testpkt.SYN}.Encode()[:10]),
	}
	h := ir.HookNFLocalOut
	for _, construct := range []bool{false, true} {
		c := &ir.Chain{Name: "bench", Hook: h, Policy: ir.Verdict{Kind: ir.Accept}}
		for i := 0; i < 64; i++ {
			ms := []ir.Match{{Field: ir.IP4Proto, Op: ir.OpEq, Value: []byte{ir.ProtoTCP}}}
			if construct {
				ms = append(ms, ir.XTL4Match(ir.XTL4TCP))
			}
			ms = append(ms, ir.Match{Field: ir.TCPDport, Op: ir.OpEq, Value: []byte{0, byte(i + 1)}})
			c.Rules = append(c.Rules, &ir.Rule{Matches: ms, Counter: true, Verdict: ir.Verdict{Kind: ir.Drop}})
		}
		for _, name := range []string{"tcp", "tcp10"} {
			b.Run(fmt.Sprintf("xtl4=%v/%s", construct, name), func(b *testing.B) {
				l := compileAndLoad(b, c)
				want := expectedRet(h, ir.Eval(nil, c, evalPacket(h, testPacket{frame: frames[name]})).Verdict)
				benchPacket(b, l, h, frames[name], want)
				b.ReportMetric(float64(l.prog.Insns), "insns")
			})
		}
	}
}
