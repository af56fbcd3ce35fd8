package backend

import (
	"testing"

	"github.com/bpfilter-go/bpfilter/ir"
)

// TestLongChain loads a chain long enough that the exit block is more than
// 32767 instructions from the first rules (gotol) and that guard blocks are
// split (maxGuardBlockInsns), and checks packets matching the first, a
// middle, the last and no rule against ir.Eval, with their counters.
func TestLongChain(t *testing.T) {
	const n = 5000
	for _, h := range []ir.Hook{ir.HookXDP, ir.HookNFLocalIn} {
		c := &ir.Chain{Name: "long", Hook: h, Policy: ir.Verdict{Kind: ir.Accept}}
		for i := 0; i < n; i++ {
			v := ir.Verdict{Kind: ir.Drop}
			if i%3 == 1 {
				v.Kind = ir.Continue
			}
			c.Rules = append(c.Rules, &ir.Rule{Matches: []ir.Match{
				{Field: ir.IP4Saddr, Value: []byte{198, 18, byte(i >> 8), byte(i)}},
				{Field: ir.TCPDport, Value: []byte{byte(i >> 8), byte(i)}},
			}, Verdict: v})
		}
		l := compileAndLoad(t, c)
		if l.prog.Insns < 32768 {
			t.Fatalf("%s: only %d instructions; the test needs more than 32767", h, l.prog.Insns)
		}
		for _, i := range []int{0, 1, 2500, n - 2, n - 1, n} {
			src := []byte{198, 18, byte(i >> 8), byte(i)}
			frame := tcp4(ipString(src), "198.18.0.2", 1234, uint16(i), 0)
			before := l.counters(t)
			res := l.check(t, testPacket{frame: frame})
			after := l.counters(t)
			slot := CounterIndexPolicy(n)
			if res.Rule >= 0 {
				slot = uint32(res.Rule)
			}
			if after[slot].Packets != before[slot].Packets+1 {
				t.Errorf("%s: packet for rule %d: slot %d not counted (ir.Eval: %s by rule %d)", h, i, slot, res.Verdict, res.Rule)
			}
		}
	}
}

func ipString(b []byte) string {
	return itoa(int(b[0])) + "." + itoa(int(b[1])) + "." + itoa(int(b[2])) + "." + itoa(int(b[3]))
}

// TestManyTwoMatchRules loads more two-match rules than the verifier's
// limit of pending branches (8192): it only loads because such rules jump
// once (combine.go).
func TestManyTwoMatchRules(t *testing.T) {
	if testing.Short() {
		t.Skip("loads a 9000-rule chain (seconds of verification)")
	}
	const n = 9000
	c := &ir.Chain{Name: "many", Hook: ir.HookXDP, Policy: ir.Verdict{Kind: ir.Accept}}
	for i := 0; i < n; i++ {
		c.Rules = append(c.Rules, &ir.Rule{Matches: []ir.Match{
			{Field: ir.IP4Saddr, Value: []byte{10, 0, byte(i >> 8), byte(i)}},
			{Field: ir.TCPDport, Value: []byte{byte(i >> 8), byte(i)}},
		}, Verdict: ir.Verdict{Kind: ir.Drop}})
	}
	l := compileAndLoad(t, c)
	l.check(t, testPacket{frame: tcp4("10.0.35.39", "198.18.0.2", 1, 9000-1, 0)})
	l.check(t, testPacket{frame: tcp4("10.0.35.39", "198.18.0.2", 1, 9000-2, 0)})
}
