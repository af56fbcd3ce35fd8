package backend

import (
	"strings"
	"testing"

	"github.com/bpfilter-go/bpfilter/internal/testpkt"
	"github.com/bpfilter-go/bpfilter/ir"
)

// TestXTL4HeavyRules: a chain of rules with many matches each (about ten
// conditional jumps per rule in the slow body) is split by its measured
// jumps, not only by rule count: 1024 such rules in one program exceed the
// verifier's 8192 pending branches and fail to load with EFAULT
// (slowMaxBranches). The chain loads, no slow body program exceeds
// slowMaxBranches, and truncated and well-formed packets get ir.Eval's
// verdicts and counters.
func TestXTL4HeavyRules(t *testing.T) {
	if testing.Short() {
		t.Skip("1500-rule chain: skipped with -short")
	}
	c := &ir.Chain{Name: "heavy", Hook: ir.HookNFLocalIn, Policy: ir.Verdict{Kind: ir.Accept}}
	for i := 0; i < 1500; i++ {
		p := uint16(1000 + i)
		c.Rules = append(c.Rules, &ir.Rule{Matches: []ir.Match{
			{Field: ir.IP4Snet, Op: ir.OpEq, Value: []byte{198, 18, byte(i >> 8), byte(i)}, Mask: []byte{255, 255, 255, 255}},
			{Field: ir.IP4Proto, Op: ir.OpEq, Value: []byte{ir.ProtoTCP}}, ir.XTL4Match(ir.XTL4TCP),
			{Field: ir.TCPSport, Op: ir.OpRange, Value: []byte{4, 0}, High: []byte{8, 0}},
			{Field: ir.TCPDport, Op: ir.OpEq, Value: []byte{byte(p >> 8), byte(p)}},
			{Field: ir.TCPFlags, Op: ir.OpAll, Value: []byte{2}, Mask: []byte{0x12}},
		}, Counter: true, Verdict: ir.Verdict{Kind: []ir.VerdictKind{ir.Accept, ir.Drop}[i%2]}})
	}
	l := compileAndLoad(t, c)
	slow := 0
	for name, ps := range l.prog.Spec.Programs {
		if name != ProgramName && conditionalJumps(ps.Instructions) > slowMaxBranches {
			t.Errorf("%s: %d conditional jumps, more than %d", name, conditionalJumps(ps.Instructions), slowMaxBranches)
		}
		if name != ProgramName {
			slow++
		}
	}
	if slow < 2 {
		t.Fatalf("%d programs besides the fast one, want the slow body cut in at least 2", slow)
	}
	tcp := func(src byte, dport uint16, n int) []byte {
		return ip4(testpkt.IPv4{Src: a4("198.18.5." + string('0'+src)), Dst: a4("198.18.0.2"), Proto: ir.ProtoTCP, TTL: 64},
			testpkt.TCP{Sport: 1500, Dport: dport, Flags: testpkt.SYN}.Encode()[:n])
	}
	for _, fr := range [][]byte{tcp(1, 2281, 20), tcp(1, 2281, 10), tcp(2, 2282, 10), tcp(1, 9999, 19), tcp(1, 2281, 4)} {
		checkPacketCounters(t, l, c, testPacket{frame: fr}, func() string { return "heavy chain" })
	}
}

// TestXTL4TooManyRules: a chain whose slow body cannot fit the programs
// the tail calls reach is refused with an error naming the cause (it once
// looped forever re-cutting the programs).
func TestXTL4TooManyRules(t *testing.T) {
	if testing.Short() {
		t.Skip("60000-rule chain: skipped with -short")
	}
	c := &ir.Chain{Name: "huge", Hook: ir.HookNFForward, Policy: ir.Verdict{Kind: ir.Accept}}
	for i := 0; i < 60000; i++ {
		p := uint16(1000 + i)
		c.Rules = append(c.Rules, &ir.Rule{Matches: []ir.Match{
			{Field: ir.IP4Proto, Op: ir.OpEq, Value: []byte{ir.ProtoTCP}}, ir.XTL4Match(ir.XTL4TCP),
			{Field: ir.TCPDport, Op: ir.OpEq, Value: []byte{byte(p >> 8), byte(p)}},
		}, Counter: true, Verdict: ir.Verdict{Kind: ir.Drop}})
	}
	_, err := Compile(c, Options{})
	if err == nil || !strings.Contains(err.Error(), "tail-called programs") {
		t.Fatalf("Compile of 60000 rules with constructs: %v, want the slow body refused", err)
	}
}
