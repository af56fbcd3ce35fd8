package prog

import (
	"fmt"
	"testing"

	"github.com/bpfilter-go/bpfilter/backend"
	"github.com/bpfilter-go/bpfilter/optimizer"
	"github.com/bpfilter-go/bpfilter/optimizer/rulegen"
	"github.com/cilium/ebpf"
)

// BenchmarkLoadLinear: compile+load time of chains compiled without
// classification (every rule linear), split over tail-called programs;
// the probe's verdict is checked after each load. Reports the programs
// and instructions.
func BenchmarkLoadLinear(b *testing.B) {
	requireRoot(b)
	for _, n := range []int{10000, 100000} {
		b.Run(fmt.Sprintf("saddr/rules=%d", n), func(b *testing.B) {
			c, want := matrixChain(b, rulegen.SourceAddrs, n, rulegen.Last)
			var p *backend.Program
			for i := 0; i < b.N; i++ {
				var err error
				p, err = backend.Compile(c, backend.Options{Plan: optimizer.Options{Linear: true}})
				if err != nil {
					b.Fatal(err)
				}
				coll, err := ebpf.NewCollection(p.Spec)
				if err != nil {
					b.Fatalf("load: %v", err)
				}
				b.StopTimer()
				ret, _, err := coll.Programs[backend.ProgramName].Benchmark(benchProbe().Packet(true).Data, 1, nil)
				coll.Close()
				if err != nil || ret != want {
					b.Fatalf("verdict %d (%v), want %d", ret, err, want)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(len(p.Spec.Programs)), "programs")
			b.ReportMetric(float64(p.Insns), "insns")
		})
	}
}
