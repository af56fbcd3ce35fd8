package optimizer

import (
	"strings"
	"testing"

	"github.com/bpfilter-go/bpfilter/ir"
)

// TestStrategyLimitStaysLinear: a rule with a token bucket is never put in
// a lookup, even when its other matches have the shape of its neighbours',
// and the plan takes tokens from exactly the packets ir.Eval does.
func TestStrategyLimitStaysLinear(t *testing.T) {
	c := &ir.Chain{Name: "c", Hook: ir.HookNFLocalIn, Policy: ir.Verdict{Kind: ir.Accept}}
	for i := 0; i < 300; i++ {
		ms := []ir.Match{{Field: ir.IP4Saddr, Value: []byte{198, 18, byte(i >> 8), byte(i)}}}
		if i == 150 {
			ms = append(ms, ir.Match{Field: ir.MetaLimit, Value: ir.Limit{Avg: ir.LimitScale, Burst: 3}.Value()})
		}
		c.Rules = append(c.Rules, &ir.Rule{Matches: ms, Verdict: ir.Verdict{Kind: ir.Drop}})
	}
	p := build(t, c, Options{})
	st := p.Stats
	if st.LinearRules != 1 || st.LookupSegments != 2 {
		t.Fatalf("want one linear rule between two lookup segments, got %v\n%s", st, p.Strategy())
	}
	if why := p.Rules[150].Why; !strings.Contains(why, "meta.limit") {
		t.Fatalf("rule 150 linear because %q, want meta.limit named", why)
	}
	planState, irState := &ir.LimitState{HZ: 250}, &ir.LimitState{HZ: 250}
	for i := 0; i < 20; i++ {
		src := byte(150 + i%3) // 198.18.0.150 reaches the limit one time in three
		data := make([]byte, 20)
		data[0], data[9] = 0x45, ir.ProtoUDP
		copy(data[12:], []byte{198, 18, 0, src})
		pk := &ir.Packet{Data: data, L3Proto: ir.EthPIP, Limits: planState}
		got := p.Eval(pk)
		pk.Limits = irState
		want := ir.Eval(nil, c, pk)
		if got.Rule != want.Rule || got.Verdict != want.Verdict {
			t.Fatalf("packet %d: plan %+v, ir %+v", i, got, want)
		}
		planState.Now, irState.Now = planState.Now+30, irState.Now+30
	}
	if b := irState.Buckets[ir.LimitKey{Chain: "c", Rule: 150, Match: 1}]; b == nil || planState.Buckets[ir.LimitKey{Chain: "c", Rule: 150, Match: 1}].Credit != b.Credit {
		t.Fatalf("buckets differ: plan %v, ir %v", planState.Buckets, irState.Buckets)
	}
}
