package backend

import (
	"errors"
	"testing"
	"time"

	"github.com/bpfilter-go/bpfilter/internal/testenv"
	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/bpfilter-go/bpfilter/optimizer"
	"github.com/bpfilter-go/bpfilter/optimizer/rulegen"
	"github.com/cilium/ebpf"
)

// loadWith compiles c with opts and loads it, reporting the load time.
func loadWith(tb testing.TB, c *ir.Chain, opts Options) (*loaded, time.Duration) {
	tb.Helper()
	testenv.RequireBPF(tb)
	p, err := Compile(c, opts)
	if err != nil {
		tb.Fatalf("Compile: %v", err)
	}
	start := time.Now()
	coll, err := ebpf.NewCollectionWithOptions(p.Spec, ebpf.CollectionOptions{})
	d := time.Since(start)
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			tb.Fatalf("load chain %s: %+v", c.Name, ve)
		}
		tb.Fatalf("load chain %s: %v", c.Name, err)
	}
	tb.Cleanup(func() { coll.Close() })
	return &loaded{chain: c, prog: p, coll: coll}, d
}

// TestSplitLinearChain compiles a long chain with classification disabled
// (every rule linear): it is split into tail-called programs, loads, and
// packets matching the first, middle and last rules, no rule, and a
// truncated packet (parse error counted once) agree with ir.Eval, counters
// included.
func TestSplitLinearChain(t *testing.T) {
	if testing.Short() {
		t.Skip("loads 20,000 linear rules on three hooks (about 40 s of verification)")
	}
	for _, h := range []ir.Hook{ir.HookXDP, ir.HookNFLocalIn, ir.HookTCIngress} {
		const n = 20000
		c, err := rulegen.Generate(rulegen.Config{Kind: rulegen.Mix, Rules: n, Seed: 3, Place: rulegen.Middle, Hook: h})
		if err != nil {
			t.Fatal(err)
		}
		l, d := loadWith(t, c, Options{Plan: optimizer.Options{Linear: true}})
		progs := len(l.prog.Spec.Programs)
		t.Logf("%s: %d linear rules: %d programs, %d instructions, loaded in %v", h, n, progs, l.prog.Insns, d)
		if progs < n/chunkLinearRules {
			t.Fatalf("%d programs for %d linear rules", progs, n)
		}
		l2 := h.Flavour() == ir.FlavourXDP || h.Flavour() == ir.FlavourTC
		probe := rulegen.DefaultProbe().Packet(l2).Data
		if !l2 {
			probe = append(make([]byte, 14), probe...)
			probe[12], probe[13] = 0x08, 0x00
		}
		frames := [][]byte{probe}
		if h.Flavour() == ir.FlavourXDP {
			frames = append(frames, probe[:14+10]) // a parse error
		}
		for _, i := range []int{0, n / 2, n - 1} {
			fr := append([]byte(nil), probe...)
			m := c.Rules[i].Matches
			if len(m) == 1 && (m[0].Field == ir.IP4Saddr || m[0].Field == ir.IP4Snet) {
				copy(fr[14+12:], m[0].Value)
			}
			frames = append(frames, fr)
		}
		for _, fr := range frames {
			before := l.counters(t)
			res := l.check(t, testPacket{frame: fr})
			after := l.counters(t)
			want := make([]uint64, len(before))
			for _, ht := range res.Hits {
				want[ht.Rule]++
			}
			if res.Rule < 0 {
				want[CounterIndexPolicy(n)]++
			}
			if res.ParseError {
				want[CounterIndexErrors(n)]++
			}
			for i := range want {
				if got := after[i].Packets - before[i].Packets; got != want[i] {
					t.Errorf("%s packet % x: counter %d moved by %d, want %d", h, fr, i, got, want[i])
				}
			}
		}
	}
}
