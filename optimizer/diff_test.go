package optimizer

import (
	"bytes"
	"math/rand"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/bpfilter-go/bpfilter/optimizer/rulegen"
)

// applyDelta replays d on a copy of old's table entries and class arrays and
// checks the result equals new's: the delta is exactly what changed.
func applyDelta(t *testing.T, old, new *Plan, d Delta) {
	t.Helper()
	type tkey struct{ s, t int }
	tables := map[tkey]map[string]Entry{}
	for si, s := range old.Segments {
		for ti, tb := range s.Tables {
			m := map[string]Entry{}
			for _, e := range tb.Entries {
				m[entryID(e.Key, e.PrefixLen)] = e
			}
			tables[tkey{si, ti}] = m
		}
	}
	for _, td := range d.Tables {
		m := tables[tkey{td.Segment, td.Table}]
		for _, e := range td.Delete {
			if _, ok := m[entryID(e.Key, e.PrefixLen)]; !ok {
				t.Fatalf("delete of a missing entry % x/%d", e.Key, e.PrefixLen)
			}
			delete(m, entryID(e.Key, e.PrefixLen))
		}
		for _, e := range td.Put {
			m[entryID(e.Key, e.PrefixLen)] = e
		}
	}
	filters := map[tkey]map[string]uint32{}
	for si, s := range old.Segments {
		for fi, f := range s.Filters {
			m := map[string]uint32{}
			for _, e := range f.Entries {
				m[entryID(e.Key, e.PrefixLen)] = e.Bits
			}
			filters[tkey{si, fi}] = m
		}
	}
	for _, fd := range d.Filters {
		m := filters[tkey{fd.Segment, fd.Filter}]
		for _, e := range fd.Delete {
			if _, ok := m[entryID(e.Key, e.PrefixLen)]; !ok {
				t.Fatalf("filter delete of a missing entry % x/%d", e.Key, e.PrefixLen)
			}
			delete(m, entryID(e.Key, e.PrefixLen))
		}
		for _, e := range fd.Put {
			m[entryID(e.Key, e.PrefixLen)] = e.Bits
		}
	}
	for si, s := range new.Segments {
		for fi, f := range s.Filters {
			m := filters[tkey{si, fi}]
			if len(m) != len(f.Entries) {
				t.Fatalf("segment %d filter %d: %d entries after the delta, want %d", si, fi, len(m), len(f.Entries))
			}
			for _, e := range f.Entries {
				if got := m[entryID(e.Key, e.PrefixLen)]; got != e.Bits {
					t.Fatalf("segment %d filter %d: entry % x/%d has bits %b after the delta, want %b", si, fi, e.Key, e.PrefixLen, got, e.Bits)
				}
			}
		}
		for ti, tb := range s.Tables {
			m := tables[tkey{si, ti}]
			if len(m) != len(tb.Entries) {
				t.Fatalf("segment %d table %d: %d entries after the delta, want %d", si, ti, len(m), len(tb.Entries))
			}
			for _, e := range tb.Entries {
				if got, ok := m[entryID(e.Key, e.PrefixLen)]; !ok || got.Value != e.Value {
					t.Fatalf("segment %d table %d: entry % x/%d is %+v after the delta, want %+v", si, ti, e.Key, e.PrefixLen, got, e)
				}
			}
		}
		for fi := range s.Filters {
			arr := old.Segments[si].Filters[fi].Buckets()
			for _, fd := range d.Filters {
				if fd.Segment == si && fd.Filter == fi {
					for _, u := range fd.Buckets {
						arr[u.Bucket] = u.Value
					}
				}
			}
			if !slices.Equal(arr, s.Filters[fi].Buckets()) {
				t.Fatalf("segment %d filter %d: Dir16 buckets differ after the delta", si, fi)
			}
		}
		for pi := range s.Prechecks {
			arr := old.Segments[si].Prechecks[pi].Array(&old.Segments[si])
			for _, pd := range d.Prechecks {
				if pd.Segment == si && pd.Check == pi {
					for _, u := range pd.Updates {
						arr[u.Bucket] = u.Value
					}
				}
			}
			if !slices.Equal(arr, s.Prechecks[pi].Array(&new.Segments[si])) {
				t.Fatalf("segment %d precheck %d differs after the delta", si, pi)
			}
		}
		for ci := range s.Classes {
			arr := old.Segments[si].Classes[ci].Array()
			for _, cd := range d.Classes {
				if cd.Segment == si && cd.Class == ci {
					for _, u := range cd.Updates {
						arr[u.Value] = u.Class
					}
				}
			}
			if !reflect.DeepEqual(arr, s.Classes[ci].Array()) {
				t.Fatalf("segment %d class %d differs after the delta", si, ci)
			}
		}
	}
}

// idsOf maps fingerprints of unchanged rules to their IDs.
func sameIDs(t *testing.T, old, new *Plan) int {
	t.Helper()
	kept := 0
	for i := range new.Rules {
		if oi, ok := old.RuleByID(new.Rules[i].ID); ok && old.fingerprints[oi] == new.fingerprints[i] {
			kept++
		}
	}
	return kept
}

func TestDiffChangeOneRuleIn10000(t *testing.T) {
	c := gen(t, rulegen.Config{Kind: rulegen.SourceAddrs, Rules: 10000, Seed: 1})
	old := build(t, c, Options{})
	nc := c.Clone()
	nc.Rules[5000].Matches[0].Value = []byte{198, 18, 7, 7}
	p := build(t, nc, Options{Previous: old})
	d, err := Diff(old, p)
	if err != nil || d.Rebuild {
		t.Fatalf("want map updates, got %+v, %v", d, err)
	}
	if len(d.Tables) != 1 || len(d.Tables[0].Put) != 1 || len(d.Tables[0].Delete) != 1 {
		t.Fatalf("want one put and one delete, got %+v", d.Tables)
	}
	if !reflect.DeepEqual(d.Actions, []uint32{p.Rules[5000].ID}) || !reflect.DeepEqual(d.ResetCounters, []uint32{p.Rules[5000].ID}) {
		t.Fatalf("actions %v, counter resets %v: want the changed rule only", d.Actions, d.ResetCounters)
	}
	if kept := sameIDs(t, old, p); kept != 9999 {
		t.Fatalf("%d rules kept their ID, want 9999", kept)
	}
	if d.Writes() > 5 {
		t.Fatalf("%d writes for one changed rule", d.Writes())
	}
	applyDelta(t, old, p, d)
}

func TestDiffInsertAndDeleteKeepIDs(t *testing.T) {
	c := gen(t, rulegen.Config{Kind: rulegen.SourceAddrs, Rules: 10000, Seed: 1})
	old := build(t, c, Options{})
	nc := c.Clone()
	ins := &ir.Rule{Matches: []ir.Match{{Field: ir.IP4Saddr, Value: []byte{198, 18, 9, 9}}}, Verdict: ir.Verdict{Kind: ir.Accept}}
	nc.Rules = append(nc.Rules[:100], append([]*ir.Rule{ins}, nc.Rules[100:]...)...)
	nc.Rules = append(nc.Rules[:7001], nc.Rules[7002:]...) // delete old rule 7000
	p := build(t, nc, Options{Previous: old})
	d, err := Diff(old, p)
	if err != nil || d.Rebuild {
		t.Fatalf("want map updates, got %+v, %v", d, err)
	}
	if kept := sameIDs(t, old, p); kept != 9999 {
		t.Fatalf("%d rules kept their ID, want 9999", kept)
	}
	// The inserted rule reuses the freed ID of the deleted one.
	if p.Rules[100].ID != old.Rules[7000].ID || p.IDCap != old.IDCap {
		t.Fatalf("inserted rule got ID %d (cap %d), want the freed %d", p.Rules[100].ID, p.IDCap, old.Rules[7000].ID)
	}
	if w := d.Writes(); w > 6 {
		t.Fatalf("%d writes for one insert and one delete", w)
	}
	applyDelta(t, old, p, d)
	pk := (&rulegen.Probe{Src: mustAddr("198.18.9.9"), Dst: mustAddr("198.18.0.1"), Proto: ir.ProtoUDP}).Packet(true)
	if r := p.Eval(pk); r.Rule != 100 || r.Verdict.Kind != ir.Accept {
		t.Fatalf("inserted rule does not decide: %+v", r)
	}
}

func TestDiffSetElement(t *testing.T) {
	s := &ir.Set{Name: "block", Key: []ir.Field{ir.IP4Saddr}}
	for i := 0; i < 10000; i++ {
		s.Elems = append(s.Elems, ir.SetElem{Key: []byte{10, byte(i >> 16), byte(i >> 8), byte(i)}})
	}
	c := &ir.Chain{Name: "c", Hook: ir.HookXDP, Policy: ir.Verdict{Kind: ir.Accept}, Sets: []*ir.Set{s}, Rules: []*ir.Rule{
		{Matches: []ir.Match{{Op: ir.OpIn, Set: "block"}}, Verdict: ir.Verdict{Kind: ir.Drop}},
	}}
	old := build(t, c, Options{})
	if old.Stats.HashTables != 1 || old.Stats.Entries != 10000 {
		t.Fatalf("set rule: %v", old.Stats)
	}
	nc := c.Clone()
	nc.Sets[0].Elems = append(nc.Sets[0].Elems[1:], ir.SetElem{Key: []byte{198, 18, 0, 1}})
	p := build(t, nc, Options{Previous: old})
	d, err := Diff(old, p)
	if err != nil || d.Rebuild {
		t.Fatalf("want map updates, got %+v, %v", d, err)
	}
	if len(d.Tables) != 1 || len(d.Tables[0].Put) != 1 || len(d.Tables[0].Delete) != 1 || len(d.Sets) != 1 || len(d.ResetCounters) != 0 {
		t.Fatalf("want one put, one delete, one set delta, no counter reset: %+v", d)
	}
	applyDelta(t, old, p, d)
}

func TestDiffRebuildReasons(t *testing.T) {
	c := gen(t, rulegen.Config{Kind: rulegen.Mix, Rules: 500, Seed: 2})
	old := build(t, c, Options{CounterHeadroom: 5000})
	for _, tc := range []struct {
		name, reason string
		mut          func(c *ir.Chain)
	}{
		{"log makes a linear rule", "segment count", func(c *ir.Chain) { c.Rules[10].Log = &ir.Log{} }},
		{"counter slots", "counter slots", func(c *ir.Chain) {
			for i := 0; i < 6000; i++ {
				c.Rules = append(c.Rules, &ir.Rule{Verdict: ir.Verdict{Kind: ir.Drop}})
			}
		}},
		{"policy", "policy", func(c *ir.Chain) { c.Policy = ir.Verdict{Kind: ir.Drop} }},
		{"new shape", "changed its tables", func(c *ir.Chain) {
			c.Rules[3].Matches = []ir.Match{{Field: ir.IP6Saddr, Value: v6(9)}}
		}},
		{"outgrow capacity", "capacity", func(c *ir.Chain) {
			for i := 0; i < 2000; i++ {
				c.Rules = append(c.Rules, &ir.Rule{Matches: []ir.Match{{Field: ir.IP4Saddr, Value: []byte{11, 0, byte(i >> 8), byte(i)}}}, Verdict: ir.Verdict{Kind: ir.Drop}})
			}
		}},
	} {
		nc := c.Clone()
		tc.mut(nc)
		p := build(t, nc, Options{Previous: old})
		d, err := Diff(old, p)
		if err != nil || !d.Rebuild || !strings.Contains(d.Reason, tc.reason) {
			t.Errorf("%s: want a rebuild because of %q, got %+v, %v", tc.name, tc.reason, d, err)
		}
	}
}

// TestDiffRandomMutations: random classifiable chains, random edits; every
// delta that is not a rebuild replays to exactly the new plan's tables, the
// new plan agrees with ir.Eval, and unchanged rules keep their IDs.
func TestDiffRandomMutations(t *testing.T) {
	g := rgen{rng: rand.New(rand.NewSource(5)), plain: true}
	updates := 0
	reasons := map[string]int{}
	filterDeltas := 0
	for iter := 0; iter < 150; iter++ {
		rs, c := g.chain(20 + g.n(60))
		old := build(t, c, Options{CounterHeadroom: 8, InlineMax: -1})
		nc := c.Clone()
		for k := 1 + g.n(3); k > 0; k-- {
			switch g.n(4) {
			case 0: // change a value
				r := nc.Rules[g.n(len(nc.Rules))]
				if len(r.Matches) > 0 && r.Matches[0].Op == ir.OpEq && r.Matches[0].Mask == nil {
					r.Matches[0].Value = append([]byte(nil), r.Matches[0].Value...)
					r.Matches[0].Value[len(r.Matches[0].Value)-1] ^= 1
				}
			case 1: // insert a copy of a rule with another verdict
				i := g.n(len(nc.Rules))
				cp := *nc.Rules[i]
				cp.Verdict = ir.Verdict{Kind: ir.Accept}
				nc.Rules = append(nc.Rules[:i], append([]*ir.Rule{&cp}, nc.Rules[i:]...)...)
			case 2: // delete
				i := g.n(len(nc.Rules))
				nc.Rules = append(nc.Rules[:i], nc.Rules[i+1:]...)
			case 3: // set element
				s := nc.Sets[g.n(len(nc.Sets))]
				if len(s.Elems) > 0 {
					s.Elems = s.Elems[1:]
				}
			}
		}
		nrs := &ir.Ruleset{Chains: []*ir.Chain{nc, rs.Chains[1]}}
		p := build(t, nc, Options{Previous: old})
		d, err := Diff(old, p)
		if err != nil {
			t.Fatal(err)
		}
		if d.Rebuild {
			reasons[d.Reason]++
		} else {
			updates++
			if len(d.Filters) > 0 {
				filterDeltas++
			}
			applyDelta(t, old, p, d)
		}
		ids := map[uint32]bool{}
		for _, ri := range p.Rules {
			if ids[ri.ID] || ri.ID >= p.IDCap {
				t.Fatalf("duplicate or out-of-range ID %d (cap %d)", ri.ID, p.IDCap)
			}
			ids[ri.ID] = true
		}
		prios := make([]uint32, len(p.Rules))
		for i, ri := range p.Rules {
			prios[i] = ri.Prio
		}
		if !sort.SliceIsSorted(prios, func(a, b int) bool { return prios[a] < prios[b] }) {
			t.Fatal("priorities are not increasing")
		}
		for i := 0; i < 100; i++ {
			pk := g.packet()
			if got, want := p.EvalRuleset(nrs, pk), ir.Eval(nrs, nc, pk); !reflect.DeepEqual(got, want) {
				t.Fatalf("after the edit: plan %+v, ir %+v", got, want)
			}
		}
	}
	if filterDeltas == 0 {
		t.Fatal("no edit changed a filter: filter deltas are not exercised")
	}
	if updates < 20 {
		t.Fatalf("only %d of 150 edits were map updates; rebuilds: %v", updates, reasons)
	}
	t.Logf("%d of 150 random edits were map updates; rebuilds: %v", updates, reasons)
}

func TestPrioritiesRenumberWhenNoGap(t *testing.T) {
	old := []string{"a", "b"}
	infos := []RuleInfo{{ID: 0, Prio: 1}, {ID: 1, Prio: 2}}
	prev := &Plan{Rules: infos, IDCap: 2, fingerprints: old}
	got, fresh, cp, err := assignIDs([]string{"a", "x", "b"}, prev, 0)
	if err != nil {
		t.Fatal(err)
	}
	if cp != 3 || len(fresh) != 1 || got[0].ID != 0 || got[2].ID != 1 || got[1].ID != 2 {
		t.Fatalf("IDs %+v cap %d", got, cp)
	}
	if !(got[0].Prio < got[1].Prio && got[1].Prio < got[2].Prio) {
		t.Fatalf("priorities not increasing after renumbering: %+v", got)
	}
	if !bytes.Equal([]byte(fingerprint(&ir.Rule{})), []byte(fingerprint(&ir.Rule{Origin: ir.Origin{Text: "x"}}))) {
		t.Fatal("the origin must not change a rule's fingerprint")
	}
}

func TestDiffLastRuleOfAShapeKeepsAnEmptyTable(t *testing.T) {
	c := gen(t, rulegen.Config{Kind: rulegen.SourceAddrs, Rules: 1000, Seed: 1})
	c.Rules = append(c.Rules[:500], append([]*ir.Rule{{
		Matches: []ir.Match{{Field: ir.MetaL4Proto, Value: []byte{ir.ProtoTCP}}, {Field: ir.TCPDport, Value: be16(22)}},
		Verdict: ir.Verdict{Kind: ir.Accept},
	}}, c.Rules[500:]...)...)
	old := build(t, c, Options{InlineMax: -1})
	nc := c.Clone()
	nc.Rules = append(nc.Rules[:500], nc.Rules[501:]...)
	p := build(t, nc, Options{InlineMax: -1, Previous: old})
	d, err := Diff(old, p)
	if err != nil || d.Rebuild {
		t.Fatalf("want an update, got %+v, %v", d, err)
	}
	if len(p.Segments[0].Tables) != 2 || len(d.Tables) != 1 || len(d.Tables[0].Delete) != 1 {
		t.Fatalf("want the tcp.dport table kept empty and its entry deleted: %s %+v", p.Strategy(), d.Tables)
	}
	applyDelta(t, old, p, d)
	// A fresh build drops the empty table.
	if fresh := build(t, nc, Options{InlineMax: -1}); len(fresh.Segments[0].Tables) != 1 {
		t.Fatalf("fresh build: %s", fresh.Strategy())
	}
}

func TestDiffKeepsConstPartsWhileTheyHold(t *testing.T) {
	c := &ir.Chain{Name: "c", Hook: ir.HookTCIngress, Policy: ir.Verdict{Kind: ir.Accept}}
	for i := 0; i < 10; i++ {
		c.Rules = append(c.Rules, &ir.Rule{Matches: []ir.Match{
			{Field: ir.MetaIface, Value: be32(2)}, {Field: ir.IP4Saddr, Value: []byte{10, 0, 0, byte(i)}},
		}, Verdict: ir.Verdict{Kind: ir.Drop}})
	}
	old := build(t, c, Options{InlineMax: -1})
	if old.Segments[0].Tables[0].Key[0].Const == nil {
		t.Fatalf("want the interface part constant: %+v", old.Segments[0].Tables[0].Key)
	}
	nc := c.Clone()
	nc.Rules = nc.Rules[:3] // below constMinEntries, the constant still holds
	p := build(t, nc, Options{Previous: old})
	if d, err := Diff(old, p); err != nil || d.Rebuild || len(d.Tables[0].Delete) != 7 {
		t.Fatalf("want 7 deletes, got %+v, %v", d, err)
	}
	nc.Rules = append(nc.Rules, &ir.Rule{Matches: []ir.Match{
		{Field: ir.MetaIface, Value: be32(3)}, {Field: ir.IP4Saddr, Value: []byte{10, 0, 0, 99}},
	}, Verdict: ir.Verdict{Kind: ir.Drop}})
	p = build(t, nc, Options{Previous: old})
	if d, err := Diff(old, p); err != nil || !d.Rebuild {
		t.Fatalf("another interface breaks the constant: want a rebuild, got %+v, %v", d, err)
	}
}
