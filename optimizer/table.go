package optimizer

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"slices"
	"sort"

	"github.com/bpfilter-go/bpfilter/ir"
)

// tableBuilder collects the entries of one shape.
type tableBuilder struct {
	t     Table
	plens map[int]bool // prefix lengths of the variable part
	// best maps (key, prefix length) to the entry index in t.Entries.
	best map[string]int
}

// entryID is the dedup key of an entry.
func entryID(key []byte, plen int) string {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], uint16(plen))
	return string(b[:]) + string(key)
}

// buildTables groups the rules of lookup segment s by shape and fills one
// table per shape.
func buildTables(srs []*shapeRule, infos []RuleInfo, s *Segment, opts Options, prev *Segment, cms []ClassMap) {
	s.Classes = cms
	groups := map[string][]int{}
	var shapes []string
	for i := s.First; i < s.End; i++ {
		sh := srs[i].shape
		if _, ok := groups[sh]; !ok {
			shapes = append(shapes, sh)
		}
		groups[sh] = append(groups[sh], i)
	}
	// Shapes of the previous plan's segment that have no rule left keep
	// an empty table (same layout and capacity), so deleting the last
	// rule of a shape is an update rather than a rebuild.
	if prev != nil {
		for i := range prev.Tables {
			pt := &prev.Tables[i]
			if _, ok := groups[pt.Shape]; !ok && !pt.Inline && pt.Kind != TableAlways && classesKept(pt, prev, s) {
				shapes = append(shapes, pt.Shape)
			}
		}
	}
	sort.Strings(shapes)
	s.Tables = make([]Table, 0, len(shapes))
	for _, sh := range shapes {
		var pt *Table
		if prev != nil {
			pt = tableByShape(prev, sh)
		}
		rules := groups[sh]
		if len(rules) == 0 {
			t := *pt
			t.Entries, t.dups, t.nrules = nil, nil, 0
			t.Key = remapClasses(pt.Key, prev, s)
			s.Tables = append(s.Tables, t)
			continue
		}
		t := buildTable(srs, infos, s.Classes, sh, rules, pt != nil && pt.Kind == TableLPM)
		t.nrules = len(rules)
		finishTable(&t, pt, opts)
		s.Tables = append(s.Tables, t)
	}
	buildFilters(s, prev)
	buildPrechecks(s)
}

// finishTable sets the table's constant parts, capacity and inline flag,
// keeping the previous table's (pt, nil: none) where they still hold.
func finishTable(t *Table, pt *Table, opts Options) {
	setConsts(t, pt)
	t.Capacity = capacity(len(t.Entries))
	if t.Kind == TableAlways {
		t.Capacity = 1
	}
	if pt != nil && pt.Kind == t.Kind && sameLayout(pt.Key, t.Key) && len(t.Entries) <= pt.Capacity {
		t.Capacity = pt.Capacity
	}
	t.Inline = t.Kind != TableAlways && opts.inlineMax() > 0 && len(t.Entries) <= opts.inlineMax()
}

// insertValue adds v to a list sorted by priority (nothing when present).
func insertValue(l []Value, v Value) []Value {
	i := sort.Search(len(l), func(i int) bool { return l[i].Prio >= v.Prio })
	if i < len(l) && l[i] == v {
		return l
	}
	l = append(l, Value{})
	copy(l[i+1:], l[i:])
	l[i] = v
	return l
}

// constMinEntries is the smallest table whose constant parts are marked:
// smaller tables are inline or cheap to rebuild, and their constants would
// flip on most edits (each flip is a rebuild).
const constMinEntries = 8

// setConsts marks the key parts whose bytes are the same in every entry.
// With a previous table of the same layout the previous choice is kept
// whenever it still holds, so the program stays unchanged: a part that was
// not constant stays so, and a constant part stays while every entry still
// has its value.
func setConsts(t *Table, pt *Table) {
	if t.Kind == TableAlways {
		return
	}
	samePrev := pt != nil && pt.Kind == t.Kind && len(pt.Key) == len(t.Key)
	for i := range t.Key {
		kp := &t.Key[i]
		if kp.Prefix {
			continue
		}
		var want []byte // the value every entry must have
		switch {
		case samePrev && pt.Key[i].Const == nil:
			continue
		case samePrev:
			want = pt.Key[i].Const
		case len(t.Entries) < constMinEntries:
			continue
		default:
			want = t.Entries[0].Key[kp.Offset : kp.Offset+kp.Width]
		}
		same := true
		for _, e := range t.Entries {
			if !bytes.Equal(e.Key[kp.Offset:kp.Offset+kp.Width], want) {
				same = false
				break
			}
		}
		if same {
			kp.Const = append([]byte(nil), want...)
		}
	}
}

// tableByShape finds the previous segment's table of a shape.
func tableByShape(prev *Segment, shape string) *Table {
	for i := range prev.Tables {
		if prev.Tables[i].Shape == shape {
			return &prev.Tables[i]
		}
	}
	return nil
}

// classesKept reports whether every range field of a previous table still
// has a class map in the new segment.
func classesKept(pt *Table, prev, s *Segment) bool {
	for _, kp := range pt.Key {
		if kp.Class >= 0 && classIndex(s.Classes, prev.Classes[kp.Class].Field) < 0 {
			return false
		}
	}
	return true
}

// remapClasses points a previous table's class parts at the new segment's
// class maps.
func remapClasses(key []KeyPart, prev, s *Segment) []KeyPart {
	out := append([]KeyPart(nil), key...)
	for i := range out {
		if out[i].Class >= 0 {
			out[i].Class = classIndex(s.Classes, prev.Classes[out[i].Class].Field)
		}
	}
	return out
}

// capacity leaves room for incremental additions.
func capacity(n int) int { return n + n/4 + 16 }

func sameLayout(a, b []KeyPart) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Field != y.Field || x.Offset != y.Offset || x.Width != y.Width || x.Class != y.Class || x.Prefix != y.Prefix ||
			!bytes.Equal(x.Mask, y.Mask) || !bytes.Equal(x.Const, y.Const) {
			return false
		}
	}
	return true
}

// buildTable fills the table of one shape from its rules (rule order).
// keepLPM keeps an LPM trie an LPM trie even when its prefixes now all
// have the same length (the previous plan's table was one).
func buildTable(srs []*shapeRule, infos []RuleInfo, cms []ClassMap, shape string, rules []int, keepLPM bool) Table {
	proto := srs[rules[0]]
	tb := &tableBuilder{plens: map[int]bool{}, best: make(map[string]int, len(rules))}
	tb.t.Shape = shape
	tb.t.Entries = make([]Entry, 0, len(rules))
	if len(proto.comps) == 0 {
		tb.t.Kind = TableAlways
		for _, i := range rules {
			if !srs[i].dead {
				tb.add(nil, 0, Value{Prio: infos[i].Prio, ID: infos[i].ID})
			}
		}
		return tb.t
	}
	off := 0
	hasPrefix := false
	for _, cp := range proto.comps {
		kp := KeyPart{Field: cp.field, Offset: off, Class: -1}
		switch cp.kind {
		case compExact:
			kp.Width = cp.field.Width()
			kp.Mask = append([]byte(nil), cp.mask...)
		case compClass:
			kp.Width = ClassWidth
			kp.Class = classIndex(cms, cp.field)
		case compPrefix:
			kp.Width = cp.field.Width()
			kp.Prefix = true
			hasPrefix = true
		}
		off += kp.Width
		tb.t.Key = append(tb.t.Key, kp)
	}
	tb.t.KeySize = off
	fixedBits := 8 * off
	if hasPrefix {
		fixedBits -= 8 * proto.comps[len(proto.comps)-1].field.Width()
	}
	for _, i := range rules {
		if !srs[i].dead {
			tb.addRule(srs[i], cms, fixedBits, Value{Prio: infos[i].Prio, ID: infos[i].ID})
		}
	}
	tb.t.Kind = TableHash
	if hasPrefix {
		tb.finishPrefix(keepLPM)
	}
	sortEntries(tb.t.Entries)
	return tb.t
}

// sortEntries sorts entries by key, then prefix length. The keys of one
// table have the same length, so comparing their first 8 bytes as a
// big-endian number first orders them as bytes.Compare does, faster.
func sortEntries(es []Entry) {
	type item struct {
		k uint64
		e Entry
	}
	items := make([]item, len(es))
	for i, e := range es {
		var b [8]byte
		copy(b[:], e.Key)
		items[i] = item{binary.BigEndian.Uint64(b[:]), e}
	}
	slices.SortFunc(items, func(a, b item) int {
		if a.k != b.k {
			return cmp.Compare(a.k, b.k)
		}
		if c := bytes.Compare(a.e.Key, b.e.Key); c != 0 {
			return c
		}
		return cmp.Compare(a.e.PrefixLen, b.e.PrefixLen)
	})
	for i := range items {
		es[i] = items[i].e
	}
}

// add inserts an entry, keeping the smallest priority on duplicates.
func (tb *tableBuilder) add(key []byte, plen int, v Value) {
	id := entryID(key, plen)
	if j, ok := tb.best[id]; ok {
		if v == tb.t.Entries[j].Value {
			return
		}
		// Several rules give this key: remember them all, so that an
		// incremental build can remove the best one (incremental.go).
		if tb.t.dups == nil {
			tb.t.dups = map[string][]Value{}
		}
		l, seen := tb.t.dups[id]
		if !seen {
			l = []Value{tb.t.Entries[j].Value}
		}
		tb.t.dups[id] = insertValue(l, v)
		if v.Prio < tb.t.Entries[j].Value.Prio {
			tb.t.Entries[j].Value = v
		}
		return
	}
	tb.best[id] = len(tb.t.Entries)
	tb.t.Entries = append(tb.t.Entries, Entry{Key: key, PrefixLen: plen, Value: v})
}

// addRule inserts every entry of one rule: one per set element (or one
// without a set) times one per combination of covered range classes.
func (tb *tableBuilder) addRule(sr *shapeRule, cms []ClassMap, fixedBits int, v Value) {
	type alt struct {
		vals [][]byte // per component
		plen int      // variable part prefix length
	}
	base := func() alt { return alt{vals: make([][]byte, len(sr.comps)), plen: -1} }
	var alts []alt
	fill := func(a alt, elem *ir.SetElem) alt {
		for ci, cp := range sr.comps {
			switch {
			case cp.setOff >= 0:
				w := cp.field.Width()
				val := elem.Key[cp.setOff : cp.setOff+w]
				if cp.kind == compPrefix {
					val = and(val, ir.PrefixMask(elem.PrefixLen, w))
					a.plen = elem.PrefixLen
				}
				a.vals[ci] = val
			case cp.kind == compExact:
				a.vals[ci] = cp.value
			case cp.kind == compPrefix:
				a.vals[ci] = cp.value
				a.plen = cp.plen
			}
		}
		return a
	}
	if sr.set != nil {
		for e := range sr.set.Elems {
			alts = append(alts, fill(base(), &sr.set.Elems[e]))
		}
	} else {
		alts = append(alts, fill(base(), nil))
	}
	for ci, cp := range sr.comps {
		if cp.kind != compClass {
			continue
		}
		cls := coveredClasses(&cms[classIndex(cms, cp.field)], cp.lo, cp.hi)
		next := make([]alt, 0, len(alts)*len(cls))
		for _, a := range alts {
			for _, cl := range cls {
				b := alt{vals: append([][]byte(nil), a.vals...), plen: a.plen}
				b.vals[ci] = []byte{byte(cl >> 8), byte(cl)}
				next = append(next, b)
			}
		}
		alts = next
	}
	for _, a := range alts {
		key := make([]byte, 0, tb.t.KeySize)
		for _, v := range a.vals {
			key = append(key, v...)
		}
		plen := 8 * tb.t.KeySize
		if a.plen >= 0 {
			plen = fixedBits + a.plen
			tb.plens[a.plen] = true
		}
		tb.add(key, plen, v)
	}
}

// finishPrefix turns a table with a variable prefix part into a hash table
// when every entry has the same prefix length, or into an LPM trie whose
// entries carry the smallest priority among themselves and their
// ancestors, so the longest match returns the first matching rule.
func (tb *tableBuilder) finishPrefix(keepLPM bool) {
	t := &tb.t
	last := &t.Key[len(t.Key)-1]
	if len(tb.plens) <= 1 && !keepLPM {
		for p := range tb.plens {
			last.Mask = ir.PrefixMask(p, last.Width)
		}
		if last.Mask == nil {
			last.Mask = append([]byte(nil), fullMask(last.Width)...)
		}
		last.Prefix = false
		for i := range t.Entries {
			t.Entries[i].PrefixLen = 8 * t.KeySize
		}
		return
	}
	t.Kind = TableLPM
	var lens []int
	byLen := map[int]map[string]Value{}
	for i := range t.Entries {
		t.Entries[i].raw = t.Entries[i].Value
	}
	for _, e := range t.Entries {
		m := byLen[e.PrefixLen]
		if m == nil {
			m = map[string]Value{}
			byLen[e.PrefixLen] = m
			lens = append(lens, e.PrefixLen)
		}
		m[string(e.Key)] = e.Value
	}
	sort.Ints(lens)
	for i := range t.Entries {
		e := &t.Entries[i]
		for _, l := range lens {
			if l >= e.PrefixLen {
				break
			}
			k := and(e.Key, ir.PrefixMask(l, t.KeySize))
			if v, ok := byLen[l][string(k)]; ok && v.Prio < e.Value.Prio {
				e.Value = v
			}
		}
	}
}
