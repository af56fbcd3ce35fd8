package cli

import (
	"bytes"
	"math"
	"math/rand"
	"reflect"
	"testing"
	"time"

	"github.com/bpfilter-go/bpfilter/ir"
)

// randValue returns a random valid operand of kind k, with its mask for
// prefix kinds.
func randValue(r *rand.Rand, k ir.ValueKind) (value, mask []byte) {
	w := k.Width()
	switch k {
	case ir.KindIfindex:
		return k.UintValue(uint64(1 + r.Int63n(math.MaxUint32-1))), nil
	case ir.KindProbability:
		return k.UintValue(uint64(r.Int63n(ir.ProbabilityScale + 1))), nil
	case ir.KindDSCP:
		return k.UintValue(uint64(r.Intn(64))), nil
	case ir.KindTCPFlags:
		return k.UintValue(uint64(1 + r.Intn(255))), nil
	case ir.KindIPv4Prefix, ir.KindIPv6Prefix:
		v := make([]byte, w)
		r.Read(v)
		m := ir.PrefixMask(r.Intn(w*8+1), w)
		for i := range v {
			v[i] &= m[i]
		}
		return v, m
	}
	v := make([]byte, w)
	r.Read(v)
	return v, nil
}

// hookOptsFor returns attach options valid on h.
func hookOptsFor(h ir.Hook) ir.HookOpts {
	switch h.Flavour() {
	case ir.FlavourXDP, ir.FlavourTC:
		return ir.HookOpts{Ifindex: 1}
	case ir.FlavourNF:
		return ir.HookOpts{Priorities: [2]int32{101, 102}}
	}
	return ir.HookOpts{CgroupPath: "/sys/fs/cgroup/test"}
}

// randRule adds random actions and a verdict valid on h to r.
func randRule(rnd *rand.Rand, h ir.Hook, r *ir.Rule) {
	r.Counter = rnd.Intn(2) == 0
	if rnd.Intn(2) == 0 {
		l := &ir.Log{Headers: ir.LogAll}
		if !h.IsSockAddr() {
			l.Headers = ir.LogHeaders(1 + rnd.Intn(7))
		}
		if rnd.Intn(2) == 0 {
			l.Every = time.Duration(1+rnd.Int63n(int64(time.Hour))) / time.Duration([]int64{1, 1e3, 1e6, 1e9}[rnd.Intn(4)])
			if l.Every == 0 {
				l.Every = time.Nanosecond
			}
		}
		r.Log = l
	}
	if f := h.Flavour(); (f == ir.FlavourTC || f == ir.FlavourCgroupSkb) && rnd.Intn(2) == 0 {
		m := rnd.Uint32()
		r.Mark = &m
	}
	kinds := []ir.VerdictKind{ir.Accept, ir.Drop, ir.Continue, ir.Next}
	r.Verdict = ir.Verdict{Kind: kinds[rnd.Intn(len(kinds))]}
	if (h == ir.HookXDP || h.Flavour() == ir.FlavourTC) && rnd.Intn(4) == 0 {
		r.Verdict = ir.Verdict{Kind: ir.Redirect, Ifindex: 1 + rnd.Uint32()%1000, Dir: ir.DirOut}
		if h != ir.HookXDP && rnd.Intn(2) == 0 {
			r.Verdict.Dir = ir.DirIn
		}
	}
}

// TestRoundTripEveryMatcher builds, for every field on every hook it is
// valid on and every operator it supports, a rule with random operands,
// and checks that Format prints text that parses back to the same IR.
func TestRoundTripEveryMatcher(t *testing.T) {
	rnd := rand.New(rand.NewSource(42))
	ops := []ir.Op{ir.OpEq, ir.OpRange, ir.OpAny, ir.OpAll, ir.OpIn}
	var chains, rules int
	for _, h := range ir.Hooks() {
		c := &ir.Chain{Name: "rt_" + h.String(), Hook: h, HookOpts: hookOptsFor(h), Policy: ir.Verdict{Kind: ir.Drop}}
		named := 0
		for _, f := range ir.Fields() {
			if !f.ValidOn(h) {
				continue
			}
			k := f.Info().Kind
			for _, op := range ops {
				if !f.SupportsOp(op) {
					continue
				}
				for i := 0; i < 8; i++ {
					m := ir.Match{Field: f, Op: op, Negate: rnd.Intn(2) == 0}
					switch op {
					case ir.OpRange:
						lo, _ := randValue(rnd, k)
						hi, _ := randValue(rnd, k)
						if bytes.Compare(lo, hi) > 0 {
							lo, hi = hi, lo
						}
						m.Value, m.High = lo, hi
					case ir.OpIn:
						s := &ir.Set{Key: []ir.Field{f}, Elems: []ir.SetElem{}}
						for j := rnd.Intn(4); j > 0; j-- {
							v, mask := randValue(rnd, k)
							e := ir.SetElem{Key: v}
							if k.IsPrefix() {
								e.PrefixLen = ir.PrefixLen(mask)
							}
							s.Elems = append(s.Elems, e)
						}
						if i%2 == 0 {
							// Named sets are declared before every anonymous set.
							s.Name = "s" + string(rune('a'+named%26)) + string(rune('a'+named/26))
							named++
							c.Sets = append([]*ir.Set{s}, c.Sets...)
						} else {
							s.Anonymous = true
							s.Name = "pending"
							c.Sets = append(c.Sets, s)
						}
						m.Set = s.Name
					default:
						m.Value, m.Mask = randValue(rnd, k)
					}
					r := &ir.Rule{Matches: []ir.Match{m}}
					randRule(rnd, h, r)
					c.Rules = append(c.Rules, r)
					rules++
				}
			}
		}
		// Anonymous sets are named in rule order, as the parser does.
		n := 0
		for _, r := range c.Rules {
			for i, m := range r.Matches {
				if s := c.Set(m.Set); m.Op == ir.OpIn && s != nil && s.Anonymous {
					s.Name = "__anon_" + itoa(n)
					r.Matches[i].Set = s.Name
					n++
				}
			}
		}
		rs := &ir.Ruleset{Chains: []*ir.Chain{c}}
		if err := rs.Validate(); err != nil {
			t.Fatalf("generated chain is invalid: %v", err)
		}
		text := Format(rs)
		back, err := Parse("roundtrip.bf", []byte(text), testEnv)
		if err != nil {
			t.Fatalf("%s: formatted text does not parse: %v\n%s", h, err, text)
		}
		if a, b := stripOrigins(rs), stripOrigins(back); !reflect.DeepEqual(a, b) {
			for i := range a.Chains[0].Rules {
				if i < len(b.Chains[0].Rules) && !reflect.DeepEqual(a.Chains[0].Rules[i], b.Chains[0].Rules[i]) {
					t.Errorf("%s: rule %d differs: %+v vs %+v", h, i, *a.Chains[0].Rules[i], *b.Chains[0].Rules[i])
					break
				}
			}
			t.Fatalf("%s: round trip changed the IR; formatted:\n%s", h, text)
		}
		chains++
	}
	t.Logf("%d chains, %d rules round-tripped", chains, rules)
	if rules < 500 {
		t.Errorf("only %d rules generated", rules)
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// TestRoundTripMultiKeySets checks concatenated keys of every InSet field
// pair valid on XDP.
func TestRoundTripMultiKeySets(t *testing.T) {
	rnd := rand.New(rand.NewSource(7))
	var keyable []ir.Field
	for _, f := range ir.Fields() {
		if f.Info().InSet && f.ValidOn(ir.HookTCIngress) && !f.Info().Kind.IsPrefix() {
			keyable = append(keyable, f)
		}
	}
	c := &ir.Chain{Name: "multi", Hook: ir.HookTCIngress, Policy: ir.Verdict{Kind: ir.Accept}}
	for i, a := range keyable {
		b := keyable[(i*7+3)%len(keyable)]
		s := &ir.Set{Name: "k" + itoa(i), Key: []ir.Field{a, b}, Elems: []ir.SetElem{}}
		for j := 0; j < 3; j++ {
			va, _ := randValue(rnd, a.Info().Kind)
			vb, _ := randValue(rnd, b.Info().Kind)
			s.Elems = append(s.Elems, ir.SetElem{Key: append(va, vb...)})
		}
		c.Sets = append(c.Sets, s)
		c.Rules = append(c.Rules, &ir.Rule{Matches: []ir.Match{{Field: a, Op: ir.OpIn, Set: s.Name}}, Verdict: ir.Verdict{Kind: ir.Drop}})
	}
	checkRoundTrip(t, "multi-key", &ir.Ruleset{Chains: []*ir.Chain{c}})
}
