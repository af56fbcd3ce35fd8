package backend

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/bpfilter-go/bpfilter/ir"
)

// FuzzDecodeLogRecord: decoding and formatting any bytes never panics.
func FuzzDecodeLogRecord(f *testing.F) {
	f.Add(make([]byte, LogRecordSize))
	rec := make([]byte, LogRecordSize)
	rec[logOffHook] = byte(ir.HookCgroupSockAddrSendmsg6)
	rec[logOffL3Proto], rec[logOffL3Proto+1] = 0xdd, 0x86
	f.Add(rec)
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := DecodeLogRecord(b)
		if err == nil {
			_ = e.String()
		}
	})
}

// fieldsOn returns the fields valid on h (none for an invalid hook).
func fieldsOn(h ir.Hook) []ir.Field {
	var out []ir.Field
	if !h.Valid() {
		return nil
	}
	for _, f := range ir.Fields() {
		if f.ValidOn(h) {
			out = append(out, f)
		}
	}
	return out
}

// chainFromBytes builds an arbitrary, often invalid, chain from fuzz input.
func chainFromBytes(b []byte) *ir.Chain {
	next := func() byte {
		if len(b) == 0 {
			return 0
		}
		c := b[0]
		b = b[1:]
		return c
	}
	bytesN := func(n int) []byte {
		out := make([]byte, n)
		for i := range out {
			out[i] = next()
		}
		return out
	}
	c := &ir.Chain{Name: "fuzz", Hook: ir.Hook(next() % 15), Policy: ir.Verdict{Kind: ir.VerdictKind(next() % 9)}}
	if k := next(); k%8 != 0 {
		c.Policy.Kind = []ir.VerdictKind{ir.Accept, ir.Drop, ir.Next}[k%3]
	}
	for i := int(next() % 3); i > 0; i-- {
		s := &ir.Set{Name: string(rune('a' + i))}
		for k := 1 + int(next()%2); k > 0; k-- {
			f := ir.Field(next() % 33)
			if valid := fieldsOn(c.Hook); len(valid) > 0 && next()%8 != 0 {
				f = valid[int(next())%len(valid)]
			}
			if f.Valid() && (f.Info().InSet || next()%8 == 0) {
				s.Key = append(s.Key, f)
				if f.Info().Kind.IsPrefix() && next()%8 != 0 {
					break
				}
			}
		}
		for k := int(next() % 3); k > 0; k-- {
			n := s.KeyWidth()
			if next()%16 == 0 {
				n = int(next() % 20)
			}
			s.Elems = append(s.Elems, ir.SetElem{Key: bytesN(n), PrefixLen: int(next() % 129)})
		}
		c.Sets = append(c.Sets, s)
	}
	for i := int(next() % 4); i > 0; i-- {
		r := &ir.Rule{Verdict: ir.Verdict{Kind: ir.VerdictKind(next() % 9), Ifindex: uint32(next()), Dir: ir.Direction(next() % 2)}}
		if k := next(); k%8 != 0 {
			r.Verdict.Kind = []ir.VerdictKind{ir.Accept, ir.Drop, ir.Next, ir.Continue}[k%4]
		}
		for k := int(next() % 4); k > 0; k-- {
			f := ir.Field(next() % 33)
			if valid := fieldsOn(c.Hook); len(valid) > 0 && next()%8 != 0 {
				f = valid[int(next())%len(valid)]
			}
			m := ir.Match{Field: f, Op: ir.Op(next() % 6), Negate: next()%2 == 0, Set: string(rune('a' + next()%4))}
			if f.Valid() && next()%4 != 0 {
				// Mostly well-formed: an operator of the field, values of its width.
				ops := f.Info().Ops
				m.Op = ops[int(next())%len(ops)]
				if next()%3 == 0 && len(c.Sets) > 0 {
					m.Op = ir.OpIn
					m.Set = c.Sets[int(next())%len(c.Sets)].Name
				}
			}
			width := func() int {
				if f.Valid() && next()%16 != 0 {
					return f.Width()
				}
				return int(next() % 18)
			}
			m.Value = bytesN(width())
			if next()%2 == 0 {
				m.Mask = bytesN(width())
			}
			if m.Op == ir.OpRange || m.Op == ir.OpRanges || next()%4 == 0 {
				m.High = bytesN(width())
			}
			if m.Op == ir.OpRanges && next()%8 != 0 {
				m.Mask = nil // ranges take no mask
			}
			r.Matches = append(r.Matches, m)
		}
		if next()%8 == 0 {
			mk := uint32(next())
			r.Mark = &mk
		}
		if next()%8 == 0 {
			r.Log = &ir.Log{Headers: ir.LogHeaders(next()), Every: time.Duration(int8(next())) * time.Millisecond}
		}
		c.Rules = append(c.Rules, r)
	}
	return c
}

// FuzzCompile: Compile never panics, and whatever it accepts is a
// well-formed collection with the documented program and maps.
func FuzzCompile(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 1, 10, 0, 0, 4, 198, 18, 0, 1})
	f.Add([]byte{1, 1, 1, 1, 3, 2, 22, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		c := chainFromBytes(b)
		if c.Hook.Valid() && c.Hook.Flavour() == ir.FlavourNF {
			return // needs kernel BTF; covered by the kernel tests
		}
		p, err := Compile(c, Options{})
		if err != nil {
			return
		}
		if p.Spec.Programs[ProgramName] == nil || p.Spec.Maps[CountersMap] == nil || p.Spec.Maps[LogMap] == nil {
			t.Fatalf("accepted chain compiled to an incomplete spec: %+v", p.Spec)
		}
		if len(p.SetMaps) != len(c.Sets) {
			t.Fatalf("SetMaps has %d entries for %d sets", len(p.SetMaps), len(c.Sets))
		}
	})
}

// TestArbitraryChainsLoad feeds random bytes to chainFromBytes and loads
// every chain Compile accepts: odd but valid IR (constant matches, masks
// with host bits, empty sets, unreachable rules) must still give programs
// the verifier accepts.
func TestArbitraryChainsLoad(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	loadedN, matches := 0, 0
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; i < 20000 && loadedN < 100 && time.Now().Before(deadline); i++ {
		b := make([]byte, 96)
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		c := chainFromBytes(b)
		if _, err := Compile(c, Options{}); err != nil {
			continue
		}
		compileAndLoad(t, c).coll.Close()
		loadedN++
		for _, r := range c.Rules {
			matches += len(r.Matches)
		}
	}
	t.Logf("loaded %d accepted chains with %d matches", loadedN, matches)
	if loadedN < 20 || matches < loadedN/3 {
		t.Errorf("only %d random chains were valid: the generator needs work", loadedN)
	}
}
