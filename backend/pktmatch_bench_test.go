package backend

import (
	"fmt"
	"testing"
	"time"

	"github.com/bpfilter-go/bpfilter/internal/testpkt"
	"github.com/bpfilter-go/bpfilter/ir"
)

// BenchmarkTCPOptionWalk measures a chain of n --tcp-option rules (kind
// 30, never found) on a SYN whose 40 option bytes are NOPs (the longest
// walk) and on one without options, with the instructions per rule and
// the time the kernel took to load (verify) the program.
func BenchmarkTCPOptionWalk(b *testing.B) {
	nops := make([]byte, 40)
	for i := range nops {
		nops[i] = 1
	}
	frames := map[string][]byte{
		"nops40": ip4(testpkt.IPv4{Src: a4("198.18.0.1"), Dst: a4("198.18.0.2"), Proto: 6}, testpkt.TCP{Sport: 1, Dport: 2, Flags: testpkt.SYN, Options: nops}.Encode()),
		"none":   ip4(testpkt.IPv4{Src: a4("198.18.0.1"), Dst: a4("198.18.0.2"), Proto: 6}, testpkt.TCP{Sport: 1, Dport: 2, Flags: testpkt.SYN}.Encode()),
	}
	for _, h := range []ir.Hook{ir.HookXDP, ir.HookNFLocalOut} {
		for _, n := range []int{1, 100} {
			c := &ir.Chain{Name: "bench", Hook: h, Policy: ir.Verdict{Kind: ir.Accept}}
			for i := 0; i < n; i++ {
				c.Rules = append(c.Rules, &ir.Rule{Matches: []ir.Match{{Field: ir.TCPOption, Op: ir.OpEq, Value: []byte{30}}}, Verdict: ir.Verdict{Kind: ir.Drop}})
			}
			for _, name := range []string{"nops40", "none"} {
				b.Run(fmt.Sprintf("%s/rules=%d/%s", h, n, name), func(b *testing.B) {
					start := time.Now()
					l := compileAndLoad(b, c)
					load := time.Since(start)
					benchPacket(b, l, h, frames[name], expectedRet(h, ir.Verdict{Kind: ir.Accept}))
					b.ReportMetric(float64(l.prog.Insns)/float64(n), "insns/rule")
					b.ReportMetric(float64(load.Milliseconds()), "load-ms")
				})
			}
		}
	}
}
