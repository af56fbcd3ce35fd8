package prog

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/bpfilter-go/bpfilter/engine"
	"github.com/bpfilter-go/bpfilter/ir"
)

const (
	xdpDrop = 1
	xdpPass = 2
	repeat  = 10000
)

var (
	srcAddr = netip.MustParseAddr("198.18.0.1")
	dstAddr = netip.MustParseAddr("198.18.0.2")
)

func requireRoot(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root to load BPF programs")
	}
}

// frame is an Ethernet/IPv4/UDP packet from srcAddr to dstAddr.
func frame() []byte {
	p := make([]byte, 64)
	binary.BigEndian.PutUint16(p[12:], ir.EthPIP)
	ip := p[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], 50)
	ip[8] = 64
	ip[9] = ir.ProtoUDP
	copy(ip[12:], srcAddr.AsSlice())
	copy(ip[16:], dstAddr.AsSlice())
	udp := ip[20:]
	binary.BigEndian.PutUint16(udp[0:], 40000)
	binary.BigEndian.PutUint16(udp[2:], 53)
	binary.BigEndian.PutUint16(udp[4:], 30)
	return p
}

// addr returns the i-th address of 10.0.0.0/8 (never srcAddr).
func addr(i int) []byte {
	return []byte{10, byte(i >> 16), byte(i >> 8), byte(i)}
}

// linearChain has n rules comparing ip4.saddr; only the last one matches
// the benchmark packet (n == 0: policy only, which drops).
func linearChain(n int) *ir.Chain {
	c := &ir.Chain{Name: "bench", Hook: ir.HookXDP, Policy: ir.Verdict{Kind: ir.Drop}}
	for i := 0; i < n; i++ {
		v := addr(i)
		if i == n-1 {
			v = srcAddr.AsSlice()
		}
		c.Rules = append(c.Rules, &ir.Rule{
			Matches: []ir.Match{{Field: ir.IP4Saddr, Op: ir.OpEq, Value: v}},
			Counter: true,
			Verdict: ir.Verdict{Kind: ir.Drop},
		})
	}
	return c
}

// setChain has one rule matching ip4.saddr against a set of n addresses
// that contains the benchmark packet's source.
func setChain(n int) *ir.Chain {
	s := &ir.Set{Name: "blocklist", Key: []ir.Field{ir.IP4Saddr}}
	for i := 0; i < n-1; i++ {
		s.Elems = append(s.Elems, ir.SetElem{Key: addr(i)})
	}
	s.Elems = append(s.Elems, ir.SetElem{Key: srcAddr.AsSlice()})
	return &ir.Chain{Name: "bench", Hook: ir.HookXDP, Policy: ir.Verdict{Kind: ir.Accept},
		Sets: []*ir.Set{s},
		Rules: []*ir.Rule{{
			Matches: []ir.Match{{Field: ir.IP4Saddr, Op: ir.OpIn, Set: "blocklist"}},
			Counter: true,
			Verdict: ir.Verdict{Kind: ir.Drop},
		}}}
}

// runCost loads c and reports the kernel's ns/packet over repeat runs,
// checking the verdict every time.
func runCost(b *testing.B, c *ir.Chain, want uint32) {
	requireRoot(b)
	lc, err := engine.Load(c, engine.Options{})
	if err != nil {
		b.Fatalf("load %d rules: %v", len(c.Rules), err)
	}
	defer lc.Close()
	prog := lc.Collection().Programs["bf_prog"]
	pkt := frame()
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
}

// BenchmarkRules: ns/packet with N linear ip4.saddr rules, the last one
// matching (0: policy only).
func BenchmarkRules(b *testing.B) {
	for _, n := range []int{0, 1, 8, 32, 128, 1024, 8000} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			runCost(b, linearChain(n), xdpDrop)
		})
	}
}

// BenchmarkSet: ns/packet for one rule with a set of N elements.
func BenchmarkSet(b *testing.B) {
	for _, n := range []int{8, 64, 1024, 65536, 1000000} {
		b.Run(fmt.Sprintf("elems=%d", n), func(b *testing.B) {
			runCost(b, setChain(n), xdpDrop)
		})
	}
}

// BenchmarkCompileLoad: time to compile and load a chain of N rules, or
// one rule with a set of N elements.
func BenchmarkCompileLoad(b *testing.B) {
	requireRoot(b)
	for _, n := range []int{1, 128, 1024, 8000} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) { compileLoad(b, linearChain(n)) })
	}
	for _, n := range []int{1024, 65536, 1000000} {
		b.Run(fmt.Sprintf("set=%d", n), func(b *testing.B) { compileLoad(b, setChain(n)) })
	}
}

func compileLoad(b *testing.B, c *ir.Chain) {
	for i := 0; i < b.N; i++ {
		lc, err := engine.Load(c, engine.Options{})
		if err != nil {
			b.Fatalf("load: %v", err)
		}
		b.StopTimer()
		lc.Close()
		b.StartTimer()
	}
}

// TestBenchChainsVerdicts keeps the benchmark inputs honest in the normal
// suite: the reference evaluator agrees with what the benchmarks assert.
func TestBenchChainsVerdicts(t *testing.T) {
	p := &ir.Packet{L2: true, Data: frame()}
	for _, c := range []*ir.Chain{linearChain(0), linearChain(1), linearChain(50), setChain(1), setChain(100)} {
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		r := ir.Eval(nil, c, p)
		if r.Verdict.Kind != ir.Drop {
			t.Errorf("%d rules: verdict %s, want DROP", len(c.Rules), r.Verdict.Kind)
		}
		if len(c.Rules) > 0 && r.Rule != len(c.Rules)-1 {
			t.Errorf("%d rules: decided by rule %d, want the last", len(c.Rules), r.Rule)
		}
	}
}
