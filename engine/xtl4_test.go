package engine_test

import (
	"strings"
	"testing"

	"github.com/bpfilter-go/bpfilter/engine"
	"github.com/bpfilter-go/bpfilter/internal/testenv"
	"github.com/bpfilter-go/bpfilter/ir"
)

// xtl4Chain is a netfilter chain of `-p tcp -m tcp --dport N` rules as the
// iptables translator emits them (with xt.l4 constructs), or without the
// constructs.
func xtl4Chain(n int, construct bool, first uint16) *ir.Chain {
	c := &ir.Chain{Name: "xtl4", Hook: ir.HookNFLocalIn, Policy: ir.Verdict{Kind: ir.Accept}}
	for i := 0; i < n; i++ {
		ms := []ir.Match{{Field: ir.IP4Proto, Op: ir.OpEq, Value: []byte{ir.ProtoTCP}}}
		if construct {
			ms = append(ms, ir.XTL4Match(ir.XTL4TCP))
		}
		p := first + uint16(i)
		ms = append(ms, ir.Match{Field: ir.TCPDport, Op: ir.OpEq, Value: []byte{byte(p >> 8), byte(p)}})
		c.Rules = append(c.Rules, &ir.Rule{Matches: ms, Counter: true, Verdict: ir.Verdict{Kind: ir.Drop}})
	}
	return c
}

// TestUpdateRefusedWithXTL4: a chain with a slow body is never updated in
// place (its slow body holds the rules as code); the same change without
// constructs is.
func TestUpdateRefusedWithXTL4(t *testing.T) {
	testenv.RequireBPF(t)
	for _, construct := range []bool{true, false} {
		lc, err := engine.Load(xtl4Chain(16, construct, 100), engine.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { lc.Close() })
		before := lc.Program
		ok, why, err := lc.Update(xtl4Chain(16, construct, 200))
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case construct && (ok || !strings.Contains(why, "xt.l4")):
			t.Fatalf("with constructs: updated %v, reason %q; want a refusal naming xt.l4", ok, why)
		case construct && lc.Program != before:
			t.Fatal("with constructs: the refused update changed the loaded program")
		case !construct && !ok:
			t.Fatalf("without constructs: update refused: %s", why)
		}
	}
}
