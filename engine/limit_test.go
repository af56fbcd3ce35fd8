package engine_test

import (
	"testing"

	"github.com/cilium/ebpf"

	"github.com/bpfilter-go/bpfilter/engine"
	"github.com/bpfilter-go/bpfilter/internal/testenv"
	"github.com/bpfilter-go/bpfilter/internal/testpkt"
	"github.com/bpfilter-go/bpfilter/ir"
)

// limitChain: 64 source-address DROP rules (a lookup segment; rule 5's
// address ends in variant), then a 1/hour burst 3 limit that ACCEPTs, DROP
// policy.
func limitChain(variant byte) *ir.Chain {
	c := &ir.Chain{Name: "lim", Hook: ir.HookNFLocalIn, Policy: ir.Verdict{Kind: ir.Drop}}
	for i := 0; i < 64; i++ {
		a := []byte{198, 19, byte(i), 1}
		if i == 5 {
			a[3] = variant
		}
		c.Rules = append(c.Rules, &ir.Rule{Matches: []ir.Match{{Field: ir.IP4Saddr, Value: a}}, Verdict: ir.Verdict{Kind: ir.Drop}})
	}
	c.Rules = append(c.Rules, &ir.Rule{Matches: []ir.Match{{Field: ir.MetaLimit, Value: ir.Limit{Avg: ir.LimitScale * 3600, Burst: 3}.Value()}},
		Verdict: ir.Verdict{Kind: ir.Accept}})
	return c
}

// acceptedNF test-runs n IPv4 packets through the chain's program on
// NF_INET_LOCAL_IN and returns how many it accepted.
func acceptedNF(t *testing.T, c *engine.Chain, n int) int {
	t.Helper()
	frame := testpkt.Ethernet(testpkt.EthIPv4, testpkt.IPv4{Src: testpkt.Addr("198.18.0.1"), Dst: testpkt.Addr("198.18.0.2"), Proto: testpkt.ProtoUDP, TTL: 64}.
		Encode(testpkt.UDP{Sport: 1, Dport: 2}.Encode()))
	ctx := make([]byte, 48)
	ctx[0], ctx[1] = 1, 2 // NF_INET_LOCAL_IN, NFPROTO_IPV4
	accepted := 0
	for i := 0; i < n; i++ {
		ret, err := c.Collection().Programs["bf_prog"].Run(&ebpf.RunOptions{Data: frame, Context: ctx})
		if err != nil {
			t.Fatalf("test run: %v", err)
		}
		if ret == 1 {
			accepted++
		}
	}
	return accepted
}

// TestLimitStateAcrossUpdates: a map-only Update keeps the buckets (the
// limit rule is unchanged linear code), a Replace starts them full again,
// as the kernel does when iptables replaces a table.
func TestLimitStateAcrossUpdates(t *testing.T) {
	testenv.RequireBPF(t)
	lc, err := engine.Load(limitChain(1), engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lc.Close() })
	if n := acceptedNF(t, lc, 2); n != 2 {
		t.Fatalf("fresh bucket: %d of 2 accepted", n)
	}
	ok, reason, err := lc.Update(limitChain(2))
	if err != nil || !ok {
		t.Fatalf("update of a lookup entry: %v, %v (%s)", ok, err, reason)
	}
	if n := acceptedNF(t, lc, 3); n != 1 {
		t.Fatalf("after a map-only update: %d of 3 accepted, want the 1 token left", n)
	}
	next, err := engine.Load(limitChain(2), engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := lc.Replace(next); err != nil {
		next.Close()
		t.Fatal(err)
	}
	if n := acceptedNF(t, lc, 5); n != 3 {
		t.Fatalf("after replace: %d of 5 accepted, want a full bucket of 3", n)
	}
	cs := counters(t, lc)
	if got := cs.Rules[64].Packets; got != 3+3 {
		t.Fatalf("limit rule counter %d, want 6 (counters carry over a replace)", got)
	}
}

// TestLimitStatePinned: a pinned chain restored from bpffs (a daemon
// restart) keeps its buckets.
func TestLimitStatePinned(t *testing.T) {
	testenv.RequireBPF(t)
	eo := engine.Options{BPFFS: testenv.NewBPFFS(t)}
	lc, err := engine.Load(limitChain(1), eo)
	if err != nil {
		t.Fatal(err)
	}
	if err := lc.Pin("lim"); err != nil {
		lc.Close()
		t.Fatal(err)
	}
	if n := acceptedNF(t, lc, 2); n != 2 {
		lc.Close()
		t.Fatalf("fresh bucket: %d of 2 accepted", n)
	}
	if err := lc.Release(); err != nil {
		t.Fatal(err)
	}
	rc, err := engine.Restore("lim", limitChain(1), eo)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if n := acceptedNF(t, rc, 3); n != 1 {
		t.Fatalf("restored chain: %d of 3 accepted, want the 1 token left", n)
	}
}
