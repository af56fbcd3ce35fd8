package prog

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/bpfilter-go/bpfilter/engine"
	"github.com/bpfilter-go/bpfilter/optimizer/rulegen"
)

// BenchmarkMatrixRatio: issue #5's target as one figure per placement —
// the ns/packet of the 10,000-rule realistic mix divided by that of the
// 1-rule mix. Both programs stay loaded and are run alternately (each
// iteration: one BPF_PROG_TEST_RUN of repeat packets of each), so load
// from other processes hits both alike; the medians over the iterations
// are reported (ns/packet of each and their ratio; target ≤ 2).
func BenchmarkMatrixRatio(b *testing.B) {
	requireRoot(b)
	for _, place := range matrixPlaces {
		b.Run(fmt.Sprintf("mix/match=%s", place), func(b *testing.B) {
			type loaded struct {
				run  func() time.Duration
				durs []time.Duration
			}
			var ls []*loaded
			for _, n := range []int{1, 10000} {
				c, want := matrixChain(b, rulegen.Mix, n, place)
				lc, err := engine.Load(c, engine.Options{})
				if err != nil {
					b.Fatal(err)
				}
				defer lc.Close()
				prog := lc.Collection().Programs["bf_prog"]
				pkt := benchProbe().Packet(true).Data
				ls = append(ls, &loaded{run: func() time.Duration {
					ret, d, err := prog.Benchmark(pkt, repeat, nil)
					if err != nil {
						b.Fatal(err)
					}
					if ret != want {
						b.Fatalf("%d rules: verdict %d, want %d", n, ret, want)
					}
					return d
				}})
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for _, l := range ls {
					l.durs = append(l.durs, l.run())
				}
			}
			med := func(d []time.Duration) float64 {
				s := slices.Clone(d)
				slices.Sort(s)
				return float64(s[len(s)/2].Nanoseconds())
			}
			one, many := med(ls[0].durs), med(ls[1].durs)
			b.ReportMetric(one, "ns/packet@1")
			b.ReportMetric(many, "ns/packet@10000")
			b.ReportMetric(many/one, "ratio")
		})
	}
}
