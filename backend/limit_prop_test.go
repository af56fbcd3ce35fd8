package backend

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/bpfilter-go/bpfilter/internal/testpkt"
	"github.com/bpfilter-go/bpfilter/ir"
)

// TestLimitPropertyAgainstEval: random netfilter chains mixing limit
// matches (anywhere in a rule, negated or not, several per rule) with
// port, address and protocol matches and CONTINUE rules; every packet's
// verdict and every counter must move as ir.Eval with its bucket state
// says. The rates never refill during a test (1/hour), so ir.Eval's clock
// stands still.
func TestLimitPropertyAgainstEval(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 2))
	hz := kernelHZ(t)
	frames := [][]byte{
		tcp4("198.18.0.1", "198.18.0.2", 1000, 80, 0x02),
		tcp4("198.18.0.3", "198.18.0.2", 1001, 81, 0x10),
		testpkt.Ethernet(testpkt.EthIPv4, testpkt.IPv4{Src: testpkt.Addr("198.18.0.1"), Dst: testpkt.Addr("198.18.0.2"), Proto: testpkt.ProtoUDP}.
			Encode(testpkt.UDP{Sport: 1000, Dport: 80}.Encode())),
		tcp6("fd00:198:18::1", "fd00:198:18::2", 1000, 80, 0x02),
	}
	randMatch := func() ir.Match {
		switch rng.IntN(6) {
		case 0, 1:
			m := limitMatch(oneAnHour, uint32(1+rng.IntN(4)))
			m.Negate = rng.IntN(4) == 0
			return m
		case 2:
			return ir.Match{Field: ir.TCPDport, Op: ir.OpEq, Negate: rng.IntN(3) == 0, Value: []byte{0, byte(80 + rng.IntN(2))}}
		case 3:
			return ir.Match{Field: ir.UDPDport, Op: ir.OpEq, Value: []byte{0, 80}}
		case 4:
			return ir.Match{Field: ir.IP4Saddr, Op: ir.OpEq, Negate: rng.IntN(3) == 0, Value: []byte{198, 18, 0, byte(1 + 2*rng.IntN(2))}}
		}
		return ir.Match{Field: ir.MetaL4Proto, Op: ir.OpEq, Value: []byte{ir.ProtoTCP}}
	}
	verdicts := []ir.VerdictKind{ir.Accept, ir.Drop, ir.Continue, ir.Continue}
	limits := 0
	for ci := 0; ci < 12; ci++ {
		c := &ir.Chain{Name: fmt.Sprintf("limit_prop_%d", ci), Hook: ir.HookNFLocalIn, Policy: ir.Verdict{Kind: ir.Accept}}
		for ri := 0; ri < 2+rng.IntN(5); ri++ {
			r := &ir.Rule{Verdict: ir.Verdict{Kind: verdicts[rng.IntN(len(verdicts))]}}
			for mi := 0; mi < 1+rng.IntN(4); mi++ {
				r.Matches = append(r.Matches, randMatch())
				if r.Matches[len(r.Matches)-1].Field == ir.MetaLimit {
					limits++
				}
			}
			c.Rules = append(c.Rules, r)
		}
		l := compileAndLoad(t, c)
		st := &ir.LimitState{HZ: hz}
		for pi := 0; pi < 24; pi++ {
			p := testPacket{frame: frames[rng.IntN(len(frames))]}
			ep := evalPacket(c.Hook, p)
			ep.Limits = st
			before := l.counters(t)
			res := ir.Eval(nil, c, ep)
			if got, want := l.run(t, p), expectedRet(c.Hook, res.Verdict); got != want {
				t.Fatalf("chain %d packet %d: program returned %d, ir.Eval says %s (rule %d)\n%s", ci, pi, got, res.Verdict, res.Rule, chainText(c))
			}
			after := l.counters(t)
			want := make([]uint64, len(before))
			for _, h := range res.Hits {
				want[h.Rule]++
			}
			if res.Rule < 0 {
				want[CounterIndexPolicy(len(c.Rules))]++
			}
			for i := range want {
				if d := after[i].Packets - before[i].Packets; d != want[i] {
					t.Fatalf("chain %d packet %d: counter %d moved by %d, want %d\n%s", ci, pi, i, d, want[i], chainText(c))
				}
			}
		}
	}
	if limits < 10 {
		t.Fatalf("only %d limit matches generated", limits)
	}
}
