package backend

import (
	"fmt"
	"testing"

	"github.com/bpfilter-go/bpfilter/ir"
)

// BenchmarkLinearRules measures the per-packet cost of a chain of n rules
// (ip4.saddr and tcp.dport compares, none matching) with BPF_PROG_TEST_RUN
// repeat, and reports the instructions per rule.
func BenchmarkLinearRules(b *testing.B) {
	frame := tcp4("198.18.0.1", "198.18.0.2", 1234, 80, 0)
	for _, h := range []ir.Hook{ir.HookXDP, ir.HookTCIngress, ir.HookNFLocalOut} {
		for _, n := range []int{1, 100, 1000} {
			b.Run(fmt.Sprintf("%s/rules=%d", h, n), func(b *testing.B) {
				c := &ir.Chain{Name: "bench", Hook: h, Policy: ir.Verdict{Kind: ir.Accept}}
				for i := 0; i < n; i++ {
					c.Rules = append(c.Rules, &ir.Rule{Matches: []ir.Match{
						{Field: ir.IP4Saddr, Value: []byte{10, byte(i >> 16), byte(i >> 8), byte(i)}},
						{Field: ir.TCPDport, Value: []byte{byte(i >> 8), byte(i)}},
					}, Verdict: ir.Verdict{Kind: ir.Drop}})
				}
				l := compileAndLoad(b, c)
				benchPacket(b, l, h, frame, expectedRet(h, ir.Verdict{Kind: ir.Accept}))
				b.ReportMetric(float64(l.prog.Insns)/float64(n), "insns/rule")
			})
		}
	}
}

// benchPacket runs the loaded program of l on frame (as hook h sees it)
// b.N times with BPF_PROG_TEST_RUN repeat, fails unless it returns want,
// and reports the time per packet.
func benchPacket(b *testing.B, l *loaded, h ir.Hook, frame []byte, want uint32) {
	b.Helper()
	opts, err := runOptions(h, testPacket{frame: frame})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	// Benchmark passes no context: netfilter then runs as LOCAL_OUT/IPv4
	// on the network header, which opts.Data is.
	ret, d, err := l.coll.Programs[ProgramName].Benchmark(opts.Data, b.N, nil)
	if err != nil {
		b.Fatal(err)
	}
	if ret != want {
		b.Fatalf("verdict %d, want %d", ret, want)
	}
	b.ReportMetric(float64(d.Nanoseconds()), "ns/packet")
}
