package backend

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/bpfilter-go/bpfilter/optimizer"
)

// classifiableMatch returns a match that the optimiser can classify, built
// from field f of packet pkt so that it matches some packets: an exact
// value, a random mask (prefixes for addresses) or a range around the
// value for fields of at most 16 bits.
func classifiableMatch(rng *rand.Rand, f ir.Field, pkt *ir.Packet, pp *ir.Parsed) (ir.Match, bool) {
	switch f {
	case ir.MetaProbability, ir.MetaFlowProbability, ir.MetaFlowHash:
		return ir.Match{}, false
	}
	v, ok := ir.FieldValue(f, pkt, pp)
	if !ok || len(v) != f.Width() {
		return ir.Match{}, false
	}
	w := len(v)
	switch k := rng.IntN(4); {
	case k == 0 && w <= 2:
		n := ir.Uint(v)
		lo, hi := n-uint64(rng.IntN(3)), n+uint64(rng.IntN(3))
		max := uint64(1)<<(8*w) - 1
		if lo > n {
			lo = 0
		}
		if hi > max || hi < n {
			hi = max
		}
		return ir.Match{Field: f, Op: ir.OpRange, Value: uintBytes(lo, w), High: uintBytes(hi, w)}, true
	case k == 1:
		mask := ir.PrefixMask(rng.IntN(8*w+1), w)
		return ir.Match{Field: f, Op: ir.OpEq, Value: andBytes(v, mask), Mask: mask}, true
	}
	if rng.IntN(4) == 0 {
		// A value that this packet does not have: the entry matches others.
		v = append([]byte(nil), v...)
		v[w-1] ^= 1
	}
	return ir.Match{Field: f, Op: ir.OpEq, Value: v}, true
}

func uintBytes(n uint64, w int) []byte {
	b := make([]byte, w)
	for i := w - 1; i >= 0; i-- {
		b[i] = byte(n)
		n >>= 8
	}
	return b
}

// randomLookupChain builds a chain of mostly classifiable rules on hook h
// (long runs become lookup segments), with a few CONTINUE and log rules
// that split the runs into several segments.
func randomLookupChain(rng *rand.Rand, h ir.Hook, pool []poolPacket) *ir.Chain {
	fields := fieldsOn(h)
	c := &ir.Chain{Name: "lookup", Hook: h}
	policies := []ir.VerdictKind{ir.Accept, ir.Drop, ir.Next}
	c.Policy = ir.Verdict{Kind: policies[rng.IntN(len(policies))]}
	verdicts := []ir.VerdictKind{ir.Accept, ir.Drop, ir.Drop, ir.Next}
	fl := h.Flavour()
	nrules := 8 + rng.IntN(60)
	for len(c.Rules) < nrules {
		fr := pool[rng.IntN(len(pool))].frame
		if !usableOn(h, fr) {
			continue
		}
		pkt := evalPacket(h, testPacket{frame: fr, mark: []uint32{0, 0x10, 0x20}[rng.IntN(3)]})
		pp := ir.Parse(pkt)
		r := &ir.Rule{Verdict: ir.Verdict{Kind: verdicts[rng.IntN(len(verdicts))]}}
		// Rules of few shapes, so that tables have several entries.
		shape := rng.Perm(len(fields))[:1+rng.IntN(3)]
		if rng.IntN(2) == 0 {
			shape = []int{rng.IntN(min(4, len(fields)))}
		}
		for _, fi := range shape {
			if m, ok := classifiableMatch(rng, fields[fi], pkt, &pp); ok {
				r.Matches = append(r.Matches, m)
				one := &ir.Chain{Name: "one", Hook: h, Policy: c.Policy, Rules: []*ir.Rule{r}}
				if one.Validate() != nil {
					r.Matches = r.Matches[:len(r.Matches)-1]
				}
			}
		}
		if (fl == ir.FlavourTC || fl == ir.FlavourCgroupSkb) && rng.IntN(4) == 0 {
			mk := []uint32{0, 0x10, 0x20}[rng.IntN(3)]
			r.Mark = &mk
		}
		if (fl == ir.FlavourXDP || fl == ir.FlavourTC) && rng.IntN(10) == 0 {
			r.Verdict = ir.Verdict{Kind: ir.Redirect, Ifindex: 1}
			if fl == ir.FlavourTC && rng.IntN(2) == 0 {
				r.Verdict.Dir = ir.DirIn
			}
		}
		switch rng.IntN(30) {
		case 0:
			r.Verdict = ir.Verdict{Kind: ir.Continue}
		case 1:
			r.Log = &ir.Log{Headers: ir.LogHeaders(rng.IntN(8))}
		case 2:
			r.Matches = nil // match-all: a constant candidate
		}
		c.Rules = append(c.Rules, r)
	}
	return c
}

// TestLookupChainsAgainstEval is the property test of lookup segments:
// random chains whose rules are mostly classifiable, on every packet hook,
// compiled with lookups; verdicts and every counter slot must agree with
// ir.Eval on pool packets (which the rules were built from) and mutations.
func TestLookupChainsAgainstEval(t *testing.T) {
	const chainsPerHook, packetsPerChain = 12, 80
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0x6c6f6f6b))
	pool := packetPool()
	deadline := time.Now().Add(90 * time.Second)
	var lookups, tables, chains int
	kinds := map[optimizer.TableKind]int{}
	for _, h := range ir.Hooks() {
		if h.IsSockAddr() {
			continue
		}
		var hash func([]byte) uint32
		if h.Flavour() == ir.FlavourTC {
			hash = flowHashProbe(t)
		}
		for n := 0; n < chainsPerHook && time.Now().Before(deadline); n++ {
			c := randomLookupChain(rng, h, pool)
			l := compileAndLoad(t, c)
			chains++
			if _, ok := l.prog.Spec.Maps[ActionsMap]; ok {
				lookups++
			}
			for si, s := range l.prog.Plan.Segments {
				for ti, tb := range s.Tables {
					if _, ok := l.prog.Spec.Maps[tableMapName(si, ti)]; ok {
						tables++
						kinds[tb.Kind]++
					}
				}
			}
			for k := 0; k < packetsPerChain; k++ {
				fr := pool[rng.IntN(len(pool))].frame
				if k%4 == 3 {
					fr = mutate(rng, fr)
				}
				if !usableOn(h, fr) {
					continue
				}
				p := testPacket{frame: fr, mark: []uint32{0, 0x10, 0x20}[rng.IntN(3)]}
				if hash != nil {
					p.flowHash = hash(fr)
				}
				checkPacketCounters(t, l, c, p, func() string {
					return fmt.Sprintf("%s chain %d packet % x", h, n, fr) + "\nplan:\n" + l.prog.Plan.Strategy()
				})
				if t.Failed() {
					return
				}
			}
			l.coll.Close()
		}
	}
	t.Logf("%d chains, %d with lookups, %d table maps %v", chains, lookups, tables, kinds)
	if lookups < chains/2 || kinds[optimizer.TableHash] == 0 || kinds[optimizer.TableLPM] == 0 {
		t.Fatalf("only %d of %d chains compiled lookups (table kinds %v): the test does not exercise lookups", lookups, chains, kinds)
	}
}
