package backend

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/bpfilter-go/bpfilter/ir"
)

// randomChain builds a chain of random rules valid on hook h: matches from
// the matcher cases, the test sets and random prefixes, random verdicts,
// marks and logs.
func randomChain(tb testing.TB, rng *rand.Rand, h ir.Hook, pool []poolPacket) *ir.Chain {
	cases := matcherCases(tb)
	var valid []ir.Match
	for _, m := range cases {
		if m.Field.ValidOn(h) {
			valid = append(valid, m)
		}
	}
	c := &ir.Chain{Name: "random", Hook: h}
	addSetRules(tb, c)
	c.Rules = nil
	policies := []ir.VerdictKind{ir.Accept, ir.Drop, ir.Next}
	c.Policy = ir.Verdict{Kind: policies[rng.IntN(len(policies))]}
	verdicts := []ir.VerdictKind{ir.Accept, ir.Drop, ir.Continue, ir.Continue, ir.Next}
	nrules := 1 + rng.IntN(8)
	for i := 0; i < nrules; i++ {
		r := &ir.Rule{Verdict: ir.Verdict{Kind: verdicts[rng.IntN(len(verdicts))]}}
		for j := rng.IntN(4); j > 0; j-- {
			var m ir.Match
			switch k := rng.IntN(11); {
			case k == 10:
				m = oddMatches()[rng.IntN(len(oddMatches()))]
				if !m.Field.ValidOn(h) {
					continue
				}
			case k < 6:
				m = valid[rng.IntN(len(valid))]
			case k < 8 && len(c.Sets) > 0:
				m = ir.Match{Op: ir.OpIn, Set: c.Sets[rng.IntN(len(c.Sets))].Name, Negate: rng.IntN(2) == 0}
			default:
				m = randomPrefix(rng, h, pool)
			}
			r.Matches = append(r.Matches, m)
		}
		fl := h.Flavour()
		if (fl == ir.FlavourTC || fl == ir.FlavourCgroupSkb) && rng.IntN(4) == 0 {
			mk := []uint32{0, 0x10, 0x20}[rng.IntN(3)]
			r.Mark = &mk
		}
		if rng.IntN(5) == 0 {
			r.Log = &ir.Log{Headers: ir.LogHeaders(rng.IntN(8))}
		}
		if (fl == ir.FlavourXDP || fl == ir.FlavourTC) && rng.IntN(8) == 0 {
			r.Verdict = ir.Verdict{Kind: ir.Redirect, Ifindex: 1}
			if fl == ir.FlavourTC && rng.IntN(2) == 0 {
				r.Verdict.Dir = ir.DirIn
			}
		}
		c.Rules = append(c.Rules, r)
	}
	if rng.IntN(8) == 0 {
		// An unconditional terminal rule: the rules after it are dead code.
		at := rng.IntN(len(c.Rules))
		c.Rules[at].Matches = nil
		c.Rules[at].Verdict = ir.Verdict{Kind: ir.Drop}
	}
	return c
}

// oddMatches are valid matches whose result does not depend on the packet,
// or whose shape is unusual: a value with bits outside its mask, empty and
// full masks, one-value ranges, flag tests with no bits, and rules whose
// guards contradict each other (via two of these in a rule).
func oddMatches() []ir.Match {
	ff := []byte{0xff, 0xff, 0xff, 0xff}
	v6 := make([]byte, 16)
	v6[15] = 1
	m6 := make([]byte, 16)
	for i := 8; i < 16; i++ {
		m6[i] = 0xff
	}
	return []ir.Match{
		{Field: ir.IP4Snet, Value: []byte{198, 18, 0, 1}, Mask: []byte{255, 255, 0, 0}},
		{Field: ir.IP4Snet, Value: []byte{198, 18, 0, 1}, Mask: []byte{255, 255, 0, 0}, Negate: true},
		{Field: ir.IP4Dnet, Value: make([]byte, 4), Mask: make([]byte, 4)},
		{Field: ir.IP4Daddr, Value: []byte{198, 18, 0, 2}, Mask: ff},
		{Field: ir.IP6Saddr, Value: v6, Mask: m6},
		{Field: ir.IP6Daddr, Value: make([]byte, 16), Mask: make([]byte, 16), Negate: true},
		{Field: ir.TCPSport, Op: ir.OpRange, Value: []byte{4, 210}, High: []byte{4, 210}},
		{Field: ir.TCPFlags, Op: ir.OpAll, Value: []byte{0}},
		{Field: ir.TCPFlags, Op: ir.OpAny, Value: []byte{0}, Negate: true},
		{Field: ir.UDPDport, Op: ir.OpRange, Value: []byte{0, 0}, High: []byte{0xff, 0xff}, Negate: true},
		{Field: ir.MetaMark, Value: []byte{0, 0, 0, 0x10}, Mask: []byte{0, 0, 0, 0xf0}},
	}
}

// randomPrefix returns an address prefix match of random length built from
// an address of the pool, so that it matches some packets.
func randomPrefix(rng *rand.Rand, h ir.Hook, pool []poolPacket) ir.Match {
	fields := []ir.Field{ir.IP4Snet, ir.IP4Dnet, ir.IP6Snet, ir.IP6Dnet}
	f := fields[rng.IntN(len(fields))]
	fi := f.Info()
	w := f.Width()
	for tries := 0; tries < 50; tries++ {
		fr := pool[rng.IntN(len(pool))].frame
		pp := ir.Parse(&ir.Packet{Data: fr, L2: true})
		if pp.L3 == nil || pp.L3Proto != fi.L3 {
			continue
		}
		bits := rng.IntN(8*w + 1)
		mask := ir.PrefixMask(bits, w)
		return ir.Match{Field: f, Op: ir.OpEq, Value: andBytes(pp.L3[fi.Load.Offset:fi.Load.Offset+w], mask), Mask: mask, Negate: rng.IntN(3) == 0}
	}
	return ir.Match{Field: ir.IP4Snet, Op: ir.OpEq, Value: make([]byte, 4), Mask: make([]byte, 4)}
}

// mutate returns a copy of frame with a few random bytes of its headers
// changed, or truncated.
func mutate(rng *rand.Rand, frame []byte) []byte {
	out := append([]byte(nil), frame...)
	switch rng.IntN(4) {
	case 0:
		return out
	case 1:
		return out[:14+rng.IntN(len(out)-13)]
	}
	for n := 1 + rng.IntN(3); n > 0; n-- {
		i := 14 + rng.IntN(min(len(out)-14, 80))
		if i < len(out) {
			out[i] = byte(rng.Uint32())
		}
	}
	return out
}

// TestRandomChainsAgainstEval is the property test: random chains on every
// packet hook, random and mutated packets; verdict, per-rule counters,
// policy and error counters must agree with ir.Eval.
func TestRandomChainsAgainstEval(t *testing.T) {
	const chainsPerHook, packetsPerChain = 25, 60
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0x6270660a))
	pool := packetPool()
	deadline := time.Now().Add(90 * time.Second)
	for _, h := range ir.Hooks() {
		if h.IsSockAddr() {
			continue
		}
		var hash func([]byte) uint32
		if h.Flavour() == ir.FlavourTC {
			hash = flowHashProbe(t)
		}
		for n := 0; n < chainsPerHook && time.Now().Before(deadline); n++ {
			c := randomChain(t, rng, h, pool)
			l := compileAndLoad(t, c)
			for k := 0; k < packetsPerChain; k++ {
				fr := mutate(rng, pool[rng.IntN(len(pool))].frame)
				if !usableOn(h, fr) {
					continue
				}
				p := testPacket{frame: fr, mark: []uint32{0, 0x10, 0x20}[rng.IntN(3)]}
				if hash != nil {
					p.flowHash = hash(fr)
				}
				checkPacketCounters(t, l, c, p, func() string {
					return fmt.Sprintf("%s chain %d packet % x", h, n, fr)
				})
				if t.Failed() {
					return
				}
			}
			l.coll.Close()
		}
	}
}

func chainText(c *ir.Chain) string {
	s := ""
	for i, r := range c.Rules {
		s += "  " + itoa(i) + ": " + ruleSummary(c, r) + "\n"
	}
	return s + "  policy " + c.Policy.String()
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}
