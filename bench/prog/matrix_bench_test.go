package prog

import (
	"fmt"
	"testing"
	"time"

	"github.com/bpfilter-go/bpfilter/engine"
	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/bpfilter-go/bpfilter/optimizer/rulegen"
)

// The matrix: rule counts, ruleset kinds and placements of the
// rule matching the probe packet.
var (
	matrixSizes  = []int{1, 100, 1000, 10000, 100000}
	matrixKinds  = []rulegen.Kind{rulegen.SourceAddrs, rulegen.Mix}
	matrixPlaces = []rulegen.Placement{rulegen.First, rulegen.Middle, rulegen.Last, rulegen.Nowhere}
)

func kindName(k rulegen.Kind) string {
	if k == rulegen.SourceAddrs {
		return "saddr"
	}
	return "mix"
}

// benchProbe is rulegen's probe arriving on ifindex 1, the interface XDP
// test runs report (the loopback device), so the probe the kernel sees is
// the one rulegen kept the filler rules from matching.
func benchProbe() rulegen.Probe {
	p := rulegen.DefaultProbe()
	p.Ifindex = 1
	return p
}

// matrixChain generates the chain and returns it with the XDP return code
// ir.Eval gives the probe.
func matrixChain(tb testing.TB, k rulegen.Kind, n int, place rulegen.Placement) (*ir.Chain, uint32) {
	tb.Helper()
	c, err := rulegen.Generate(rulegen.Config{Kind: k, Rules: n, Seed: 1, Place: place, Probe: benchProbe()})
	if err != nil {
		tb.Fatalf("rulegen: %v", err)
	}
	pkt := benchProbe().Packet(true)
	res := ir.Eval(nil, c, pkt)
	if res.Rule != rulegen.MatchIndex(n, place) {
		tb.Fatalf("%s %d %s: ir.Eval picks rule %d, want %d", kindName(k), n, place, res.Rule, rulegen.MatchIndex(n, place))
	}
	want := uint32(xdpPass)
	if res.Verdict.Kind == ir.Drop {
		want = xdpDrop
	}
	return c, want
}

// BenchmarkMatrix: ns/packet (BPF_PROG_TEST_RUN, repeat 10,000) of the
// optimised program for source-address rules and the rulegen realistic
// mix at 1 to 100,000 rules, the rule matching the probe first, in the
// middle, last or nowhere. The verdict is checked on every run.
func BenchmarkMatrix(b *testing.B) {
	for _, k := range matrixKinds {
		for _, n := range matrixSizes {
			for _, place := range matrixPlaces {
				b.Run(fmt.Sprintf("%s/rules=%d/match=%s", kindName(k), n, place), func(b *testing.B) {
					c, want := matrixChain(b, k, n, place)
					runProbe(b, c, want)
				})
			}
		}
	}
}

// runProbe loads c and reports the kernel's ns/packet for the probe.
func runProbe(b *testing.B, c *ir.Chain, want uint32) {
	requireRoot(b)
	lc, err := engine.Load(c, engine.Options{})
	if err != nil {
		b.Fatalf("load %d rules: %v", len(c.Rules), err)
	}
	defer lc.Close()
	prog := lc.Collection().Programs["bf_prog"]
	pkt := benchProbe().Packet(true).Data
	b.ResetTimer()
	var total time.Duration
	for i := 0; i < b.N; i++ {
		ret, d, err := prog.Benchmark(pkt, repeat, nil)
		if err != nil {
			b.Fatal(err)
		}
		if ret != want {
			b.Fatalf("verdict %d, want %d", ret, want)
		}
		total += d
	}
	b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "ns/packet")
	b.ReportMetric(float64(lc.Program.Insns), "insns")
}

// BenchmarkMatrixCompileLoad: compile (plan included) + load time of the
// matrix chains (rule in the middle).
func BenchmarkMatrixCompileLoad(b *testing.B) {
	requireRoot(b)
	for _, k := range matrixKinds {
		for _, n := range matrixSizes {
			b.Run(fmt.Sprintf("%s/rules=%d", kindName(k), n), func(b *testing.B) {
				c, _ := matrixChain(b, k, n, rulegen.Middle)
				b.ResetTimer()
				compileLoad(b, c)
			})
		}
	}
}

// BenchmarkUpdateOneRule: latency of engine.Chain.Update changing one rule
// of a loaded 10,000-rule chain (plan with Previous, diff, compile check,
// map writes), alternating between two versions of the rule; the verdict
// of the changed rule is checked after every update.
func BenchmarkUpdateOneRule(b *testing.B) {
	requireRoot(b)
	for _, k := range matrixKinds {
		b.Run(kindName(k), func(b *testing.B) {
			const n = 10000
			c, _ := matrixChain(b, k, n, rulegen.Nowhere)
			lc, err := engine.Load(c, engine.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer lc.Close()
			// Version 1 changes the first source-address rule from rule
			// 5000 on to drop the probe's source (same shape: a map
			// update); version 0 is c.
			v1 := c.Clone()
			at := sourceRule(c, n/2)
			if at < 0 {
				b.Fatal("no single source-address rule in the second half")
			}
			m := v1.Rules[at].Matches[0]
			m.Value, m.Mask = benchProbe().Src.AsSlice(), nil
			v1.Rules[at] = &ir.Rule{Matches: []ir.Match{m}, Verdict: ir.Verdict{Kind: ir.Drop}, Counter: true}
			versions := []*ir.Chain{c, v1}
			wants := []uint32{xdpPass, xdpDrop}
			pkt := benchProbe().Packet(true).Data
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				v := (i + 1) % 2
				ok, why, err := lc.Update(versions[v])
				if err != nil {
					b.Fatal(err)
				}
				if !ok {
					b.Fatalf("update needs a reload: %s", why)
				}
				b.StopTimer()
				ret, _, err := lc.Collection().Programs["bf_prog"].Benchmark(pkt, 1, nil)
				if err != nil {
					b.Fatal(err)
				}
				if ret != wants[v] {
					b.Fatalf("after update %d: verdict %d, want %d", i, ret, wants[v])
				}
				b.StartTimer()
			}
		})
	}
}

// TestMatrixChains keeps the matrix inputs honest in the normal suite.
func TestMatrixChains(t *testing.T) {
	for _, k := range matrixKinds {
		for _, place := range matrixPlaces {
			matrixChain(t, k, 1000, place)
		}
	}
}

// sourceRule returns the index of the first rule from i on whose only
// match is an exact IPv4 source address, or -1.
func sourceRule(c *ir.Chain, i int) int {
	for ; i < len(c.Rules); i++ {
		r := c.Rules[i]
		if len(r.Matches) != 1 || r.Log != nil || r.Matches[0].Negate || r.Matches[0].Op != ir.OpEq {
			continue
		}
		m := r.Matches[0]
		if (m.Field == ir.IP4Saddr || m.Field == ir.IP4Snet) && (m.Mask == nil || string(m.Mask) == "\xff\xff\xff\xff") {
			return i
		}
	}
	return -1
}
