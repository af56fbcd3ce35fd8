package optimizer

import (
	"bytes"
	"sort"
	"sync"

	"github.com/bpfilter-go/bpfilter/ir"
)

// tableIndex is the Go form of a table's map, for Eval.
type tableIndex struct {
	// byLen maps a prefix length to key → value; lens are sorted longest
	// first (hash tables have one length).
	byLen map[int]map[string]Value
	lens  []int
}

// evalIndex holds a plan's tables as Go maps, built on first Eval.
type evalIndex struct {
	once sync.Once
	ix   []segIndex
}

// segIndex is the Go form of one segment's tables and filters.
type segIndex struct {
	tables  []tableIndex
	filters []filterIndex
	// prechecks are the precheck arrays (Precheck.Array).
	prechecks [][]uint32
}

// filterIndex is a filter as Go maps by prefix length, longest first.
type filterIndex struct {
	byLen map[int]map[string]uint32
	lens  []int
	// buckets is the Dir16 array (nil: none).
	buckets []uint32
}

// lookupDir16 returns the bitmap of addr and whether the filter's map had
// to be looked up (no Dir16 stage, or a bucket marked Dir16Refine).
func (fx *filterIndex) lookupDir16(addr []byte) (bits uint32, mapLookup bool) {
	if fx.buckets != nil {
		if v := fx.buckets[Dir16Index(addr)]; v&Dir16Refine == 0 {
			return v, false
		}
	}
	return fx.lookup(addr), true
}

// lookup returns the bitmap of the longest entry containing addr.
func (fx *filterIndex) lookup(addr []byte) uint32 {
	for _, l := range fx.lens {
		k := addr
		if l < 8*len(addr) {
			k = and(addr, ir.PrefixMask(l, len(addr)))
		}
		if b, ok := fx.byLen[l][string(k)]; ok {
			return b
		}
	}
	return 0
}

func (p *Plan) indexes() []segIndex {
	p.eval.once.Do(func() { p.eval.ix = buildIndexes(p) })
	return p.eval.ix
}

func buildIndexes(p *Plan) []segIndex {
	out := make([]segIndex, len(p.Segments))
	for si, s := range p.Segments {
		for _, f := range s.Filters {
			fx := filterIndex{byLen: map[int]map[string]uint32{}}
			for _, e := range f.Entries {
				if fx.byLen[e.PrefixLen] == nil {
					fx.byLen[e.PrefixLen] = map[string]uint32{}
					fx.lens = append(fx.lens, e.PrefixLen)
				}
				fx.byLen[e.PrefixLen][string(e.Key)] = e.Bits
			}
			sort.Sort(sort.Reverse(sort.IntSlice(fx.lens)))
			fx.buckets = f.Buckets()
			out[si].filters = append(out[si].filters, fx)
		}
		for pi := range s.Prechecks {
			out[si].prechecks = append(out[si].prechecks, s.Prechecks[pi].Array(&p.Segments[si]))
		}
		out[si].tables = make([]tableIndex, len(s.Tables))
		for ti, t := range s.Tables {
			ix := tableIndex{byLen: map[int]map[string]Value{}}
			for _, e := range t.Entries {
				m := ix.byLen[e.PrefixLen]
				if m == nil {
					m = map[string]Value{}
					ix.byLen[e.PrefixLen] = m
					ix.lens = append(ix.lens, e.PrefixLen)
				}
				m[string(e.Key)] = e.Value
			}
			sort.Sort(sort.Reverse(sort.IntSlice(ix.lens)))
			out[si].tables[ti] = ix
		}
	}
	return out
}

// Eval evaluates packet p with the plan, as the generated program would:
// linear segments rule by rule, lookup segments by one lookup per table
// and the smallest priority. The result must equal ir.Eval(nil, p.Chain, p).
func (p *Plan) Eval(pkt *ir.Packet) ir.Result { return p.EvalRuleset(nil, pkt) }

// EvalRuleset is Eval for a chain whose rules JUMP or GOTO user chains of
// rs (those are evaluated rule by rule).
func (p *Plan) EvalRuleset(rs *ir.Ruleset, pkt *ir.Packet) ir.Result {
	return p.run(rs, pkt, nil)
}

// Cost is the work the generated program does for one packet, by the plan.
type Cost struct {
	// LinearRules is the number of rules of linear segments evaluated.
	LinearRules int
	// ClassLookups counts range-class array lookups (inlined by the
	// verifier: cheap).
	ClassLookups int
	// MapLookups counts hash and LPM lookups (inline and constant tables
	// excepted).
	MapLookups int
	// BucketLookups counts Dir16 bucket array lookups (inlined by the
	// verifier: cheap); a bucket marked Dir16Refine adds a MapLookup.
	BucketLookups int
	// PrecheckLookups counts field precheck array lookups (inlined).
	PrecheckLookups int
	// Skipped counts table lookups avoided because a key field is absent
	// or differs from the part's Const.
	Skipped int
}

// Cost evaluates the packet like Eval and reports the work done.
func (p *Plan) Cost(pkt *ir.Packet) Cost {
	var c Cost
	p.run(nil, pkt, &c)
	return c
}

func (p *Plan) run(rs *ir.Ruleset, pkt *ir.Packet, cost *Cost) ir.Result {
	if cost == nil {
		cost = &Cost{}
	}
	c := p.Chain
	own := *pkt // a mark action changes what later meta.mark matches read
	pkt = &own
	pp := ir.Parse(pkt)
	res := ir.Result{ParseError: pp.Err != nil}
	ix := p.indexes()
	if p.xtl4 && ir.XTL4SlowPath(&pp) {
		// The slow body: every rule in order (HasSlowPath).
		for i := range c.Rules {
			cost.LinearRules++
			if v, ch, idx, done := stepRule(rs, c, i, pkt, &pp, &res, 0); done {
				return finish(c, &res, v, ch, idx)
			}
		}
		return finish(c, &res, c.Policy, c.Name, -1)
	}
	for si := range p.Segments {
		s := &p.Segments[si]
		if s.Kind == SegLinear {
			for i := s.First; i < s.End; i++ {
				cost.LinearRules++
				if v, ch, idx, done := stepRule(rs, c, i, pkt, &pp, &res, 0); done {
					return finish(c, &res, v, ch, idx)
				}
			}
			continue
		}
		best, hit := lookupSegment(s, ix[si], pkt, &pp, cost)
		if !hit {
			continue
		}
		i, ok := p.RuleByID(best.ID)
		if !ok {
			continue
		}
		r := c.Rules[i]
		res.Hits = append(res.Hits, ir.Hit{Chain: c.Name, Rule: i})
		if r.Mark != nil {
			m := *r.Mark
			res.Mark = &m
			pkt.Mark = m
		}
		return finish(c, &res, r.Verdict, c.Name, i)
	}
	return finish(c, &res, c.Policy, c.Name, -1)
}

func finish(c *ir.Chain, res *ir.Result, v ir.Verdict, chain string, idx int) ir.Result {
	if v.Kind == ir.Return {
		v, chain, idx = c.Policy, c.Name, -1
	}
	res.Verdict, res.Chain, res.Rule = v, chain, idx
	return *res
}

// lookupSegment runs the segment's lookups and returns the hit with the
// smallest priority.
func lookupSegment(s *Segment, six segIndex, pkt *ir.Packet, pp *ir.Parsed, cost *Cost) (Value, bool) {
	ix := six.tables
	fbits := make([]uint32, len(s.Filters)) // 0 when the field is absent
	for fi := range s.Filters {
		if v, ok := ir.FieldValue(s.Filters[fi].Field, pkt, pp); ok {
			var mapLookup bool
			fbits[fi], mapLookup = six.filters[fi].lookupDir16(v)
			if s.Filters[fi].Dir16 {
				cost.BucketLookups++
			}
			if mapLookup {
				cost.MapLookups++
			}
		}
	}
	pbits := make([]uint32, len(s.Prechecks)) // 0 when the field is absent
	for pi := range s.Prechecks {
		if v, ok := ir.FieldValue(s.Prechecks[pi].Field, pkt, pp); ok {
			cost.PrecheckLookups++
			pbits[pi] = six.prechecks[pi][PrecheckIndex(v)]
		}
	}
	classes := make([]int, len(s.Classes)) // class id, -1 when the field is absent
	for ci := range s.Classes {
		v, ok := ir.FieldValue(s.Classes[ci].Field, pkt, pp)
		classes[ci] = -1
		if ok {
			classes[ci] = int(s.Classes[ci].Class(uint32(ir.Uint(v))))
			cost.ClassLookups++
		}
	}
	var best Value
	hit := false
	for ti := range s.Tables {
		t := &s.Tables[ti]
		if t.Filter >= 0 && fbits[t.Filter]&(1<<t.FilterBit) == 0 {
			cost.Skipped++ // no entry has the packet's address
			continue
		}
		if checks, bits := s.precheckRefs(ti); !prechecked(pbits, checks, bits) {
			cost.Skipped++ // no entry has the packet's value in a prechecked field
			continue
		}
		key, ok := packetKey(t, classes, pkt, pp)
		if !ok {
			cost.Skipped++
			continue
		}
		if t.Kind != TableAlways && !t.Inline {
			cost.MapLookups++
		}
		for _, l := range ix[ti].lens {
			k := key
			if t.Kind == TableLPM {
				k = and(key, ir.PrefixMask(l, t.KeySize))
			}
			if v, ok := ix[ti].byLen[l][string(k)]; ok {
				if !hit || v.Prio < best.Prio {
					best, hit = v, true
				}
				break
			}
		}
	}
	return best, hit
}

// packetKey builds a table's lookup key from the packet; false when a key
// field is missing.
func packetKey(t *Table, classes []int, pkt *ir.Packet, pp *ir.Parsed) ([]byte, bool) {
	key := make([]byte, 0, t.KeySize)
	for _, kp := range t.Key {
		if kp.Class >= 0 {
			c := classes[kp.Class]
			if c < 0 {
				return nil, false
			}
			key = append(key, byte(c>>8), byte(c))
			if kp.Const != nil && (kp.Const[0] != byte(c>>8) || kp.Const[1] != byte(c)) {
				return nil, false
			}
			continue
		}
		v, ok := ir.FieldValue(kp.Field, pkt, pp)
		if !ok || len(v) != kp.Width {
			return nil, false
		}
		if kp.Mask != nil {
			v = and(v, kp.Mask)
		}
		if kp.Const != nil && !bytes.Equal(v, kp.Const) {
			return nil, false // no entry can match: the lookup is skipped
		}
		key = append(key, v...)
	}
	return key, true
}

// maxJumpDepth bounds JUMP nesting as ir.Eval does.
const maxJumpDepth = 32

// stepRule evaluates rule i of chain c rule-by-rule (the linear code the
// backend generates), with ir.Eval's semantics for actions, CONTINUE and
// JUMP/GOTO. done reports a decision.
func stepRule(rs *ir.Ruleset, c *ir.Chain, i int, pkt *ir.Packet, pp *ir.Parsed, res *ir.Result, depth int) (ir.Verdict, string, int, bool) {
	r := c.Rules[i]
	matched, hot := ir.RuleOutcome(c, r, pkt, pp)
	if hot { // xt_tcpudp's hotdrop (ir.RuleOutcome)
		res.HotDrop = true
		return ir.Verdict{Kind: ir.Drop}, c.Name, i, true
	}
	if !matched {
		return ir.Verdict{}, "", 0, false
	}
	res.Hits = append(res.Hits, ir.Hit{Chain: c.Name, Rule: i})
	if r.Mark != nil {
		m := *r.Mark
		res.Mark = &m
		pkt.Mark = m
	}
	switch r.Verdict.Kind {
	case ir.Continue:
		return ir.Verdict{}, "", 0, false
	case ir.Jump, ir.Goto:
		var t *ir.Chain
		if rs != nil {
			t = rs.Chain(r.Verdict.Chain)
		}
		if t == nil || depth >= maxJumpDepth {
			return ir.Verdict{Kind: ir.Drop}, c.Name, i, true
		}
		v, ch, idx, done := walkChain(rs, t, pkt, pp, res, depth+1)
		if r.Verdict.Kind == ir.Goto {
			if !done {
				return ir.Verdict{Kind: ir.Return}, t.Name, -1, true
			}
			return v, ch, idx, true
		}
		if done && v.Kind != ir.Return {
			return v, ch, idx, true
		}
		return ir.Verdict{}, "", 0, false
	}
	return r.Verdict, c.Name, i, true
}

// walkChain evaluates a user chain rule by rule.
func walkChain(rs *ir.Ruleset, c *ir.Chain, pkt *ir.Packet, pp *ir.Parsed, res *ir.Result, depth int) (ir.Verdict, string, int, bool) {
	for i := range c.Rules {
		if v, ch, idx, done := stepRule(rs, c, i, pkt, pp, res, depth); done {
			return v, ch, idx, true
		}
	}
	return ir.Verdict{}, "", 0, false
}

// prechecked reports whether every precheck of a table lets it through.
func prechecked(pbits []uint32, checks, bits []int) bool {
	for i, pi := range checks {
		if pbits[pi]&(1<<bits[i]) == 0 {
			return false
		}
	}
	return true
}
