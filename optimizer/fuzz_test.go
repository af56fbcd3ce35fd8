package optimizer

import (
	"bytes"
	"math/rand"
	"reflect"
	"testing"

	"github.com/bpfilter-go/bpfilter/ir"
)

// FuzzPlanEval feeds arbitrary packet bytes and metadata through a random
// ruleset (chosen by seed) and checks the plan never panics and agrees with
// ir.Eval.
func FuzzPlanEval(f *testing.F) {
	g := rgen{rng: rand.New(rand.NewSource(1))}
	for i := 0; i < 8; i++ {
		f.Add(int64(i), g.packet().Data, uint32(i%4), uint32(i)<<8, i%2 == 0)
	}
	f.Fuzz(func(t *testing.T, seed int64, data []byte, ifindex, mark uint32, plain bool) {
		g := rgen{rng: rand.New(rand.NewSource(seed)), plain: plain}
		rs, c := g.chain(1 + g.n(40))
		p, err := Build(c, Options{})
		if err != nil {
			t.Fatal(err)
		}
		pk := &ir.Packet{Data: data, L2: true, Ifindex: ifindex, Mark: mark}
		if got, want := p.EvalRuleset(rs, pk), ir.Eval(rs, c, pk); !reflect.DeepEqual(got, want) {
			t.Fatalf("plan %+v, ir %+v", got, want)
		}
	})
}

// byteStream hands out fuzz bytes (zeros when exhausted).
type byteStream struct{ b []byte }

func (s *byteStream) next() byte {
	if len(s.b) == 0 {
		return 0
	}
	c := s.b[0]
	s.b = s.b[1:]
	return c
}

func (s *byteStream) bytes(n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = s.next()
	}
	return out
}

// chainFromBytes decodes arbitrary bytes into a TC chain: every field,
// operator, mask, range and set shape the IR allows (invalid chains are
// refused by Build and skipped).
func chainFromBytes(data []byte) *ir.Chain {
	s := &byteStream{data}
	c := &ir.Chain{Name: "f", Hook: ir.HookTCIngress, Policy: ir.Verdict{Kind: ir.Accept}}
	var fields, setFields []ir.Field
	for _, f := range ir.Fields() {
		if f.ValidOn(c.Hook) {
			fields = append(fields, f)
			if f.Info().InSet {
				setFields = append(setFields, f)
			}
		}
	}
	set := &ir.Set{Name: "s", Key: []ir.Field{setFields[int(s.next())%len(setFields)]}}
	if s.next()%2 == 0 {
		set.Key = append(set.Key, setFields[int(s.next())%len(setFields)])
	}
	for i := int(s.next() % 6); i > 0; i-- {
		set.Elems = append(set.Elems, ir.SetElem{Key: s.bytes(set.KeyWidth()), PrefixLen: int(s.next() % 129)})
	}
	c.Sets = []*ir.Set{set}
	for r := int(s.next()%12) + 1; r > 0; r-- {
		rule := &ir.Rule{Verdict: ir.Verdict{Kind: ir.VerdictKind(s.next() % 5), Ifindex: 3}}
		for m := int(s.next() % 4); m > 0; m-- {
			f := fields[int(s.next())%len(fields)]
			x := s.next()
			ops := append([]ir.Op{ir.OpIn}, f.Info().Ops...)
			op := ops[int(x&0x0f)%len(ops)]
			if x&0x30 == 0x30 { // now and then any operator, valid or not
				op = ir.Op(x % 5)
			}
			mt := ir.Match{Field: f, Op: op, Negate: x&0x80 != 0, Value: s.bytes(f.Width())}
			switch {
			case mt.Op == ir.OpIn:
				mt.Set = "s"
			case mt.Op == ir.OpRange:
				mt.High = s.bytes(f.Width())
				if bytes.Compare(mt.Value, mt.High) > 0 {
					mt.Value, mt.High = mt.High, mt.Value
				}
			case x&0x40 != 0:
				mt.Mask = s.bytes(f.Width())
			}
			rule.Matches = append(rule.Matches, mt)
		}
		if s.next()%3 == 0 {
			mk := uint32(s.next())
			rule.Mark = &mk
		}
		c.Rules = append(c.Rules, rule)
	}
	return c
}

// FuzzBuild builds plans of arbitrary chains: Build never panics, and
// every plan it accepts agrees with ir.Eval.
func FuzzBuild(f *testing.F) {
	f.Add([]byte{0x0a, 0x01, 0x02, 0x03, 0x0a, 0x00, 0x05, 0x0a, 0x40, 1, 2, 3, 4, 0xff, 0, 0, 0})
	f.Add([]byte{0x17, 0x00, 0x03, 0x01, 0x02, 0x00, 0x10, 0x01, 0x02, 0x01, 0x17, 0x01, 0, 80, 0, 90})
	pkts := func() []*ir.Packet {
		g := rgen{rng: rand.New(rand.NewSource(9))}
		out := make([]*ir.Packet, 50)
		for i := range out {
			out[i] = g.packet()
		}
		return out
	}()
	f.Fuzz(func(t *testing.T, data []byte) {
		c := chainFromBytes(data)
		if c.Validate() != nil {
			if _, err := Build(c, Options{}); err == nil {
				t.Fatal("Build accepted an invalid chain")
			}
			return
		}
		for _, o := range []Options{{}, {InlineMax: -1, MaxReplication: 2}} {
			p, err := Build(c, o)
			if err != nil {
				t.Fatalf("Build refused a valid chain: %v", err)
			}
			for _, pk := range pkts {
				if got, want := p.Eval(pk), ir.Eval(nil, c, pk); !reflect.DeepEqual(got, want) {
					t.Fatalf("plan %+v, ir %+v\n%s", got, want, p.Strategy())
				}
			}
		}
	})
}
