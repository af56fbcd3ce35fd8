package optimizer

import (
	"bytes"
	"maps"
	"slices"
	"sort"
	"sync/atomic"

	"github.com/bpfilter-go/bpfilter/ir"
)

// Incremental builds. With Options.Previous, a lookup segment whose rules
// differ from the previous plan's segment of the same index by a few
// added or removed rules (incMaxChanges), with the same range classes and
// no shape appearing or emptied, is planned by editing the previous
// tables instead of rebuilding them: tables of untouched shapes are
// shared, a hash table is edited entry by entry (Table.dups keeps every
// rule behind a key several rules give, so removing the first one finds
// the next), and an LPM table is rebuilt from its shape's rules only.
// Filters are recomputed only when one of their tables changed, by
// editing their entries (refilter). Any other case falls back to the full
// build of the segment, which gives the same plan (TestIncrementalEqualsFull).

// incMaxChanges bounds the rules added to or removed from one segment that
// are planned by editing the previous tables.
const incMaxChanges = 64

// noIncremental forces full builds (tests compare both).
var noIncremental bool

// incrementalSegments counts the segments planned incrementally (tests).
var incrementalSegments atomic.Int64

// incremental is what an incremental build knows about the previous plan.
type incremental struct {
	prev *Plan
	// match maps new rules to previous ones (-1: new), rev the reverse.
	match, rev []int
	opts       Options
}

// newIncremental returns nil when the previous plan cannot be edited: no
// previous plan, other options, or renumbered priorities.
func newIncremental(c *ir.Chain, prev *Plan, a idAssignment, opts Options) *incremental {
	if noIncremental || prev == nil || prev.classified == nil || a.renumbered || a.match == nil {
		return nil
	}
	if !opts.LiveSets && (len(c.Sets) > 0 || len(prev.Chain.Sets) > 0) {
		// Set elements are table entries, and a rule's fingerprint does
		// not cover them.
		return nil
	}
	po := prev.opts
	if po.Linear != opts.Linear || po.LiveSets != opts.LiveSets || po.maxTables() != opts.maxTables() ||
		po.inlineMax() != opts.inlineMax() || po.maxReplication() != opts.maxReplication() {
		return nil
	}
	rev := make([]int, len(prev.Rules))
	for j := range rev {
		rev[j] = -1
	}
	for i, j := range a.match {
		if j >= 0 {
			rev[j] = i
		}
	}
	return &incremental{prev: prev, match: a.match, rev: rev, opts: opts}
}

// shapeChange lists the rules of one shape added to (new indices) and
// removed from (previous indices) a segment.
type shapeChange struct {
	added, removed []int
}

// tables fills the tables and filters of lookup segment s, whose class
// maps are cms (buildClasses), by editing the previous plan's segment ps;
// false when it cannot (then nothing useful
// was set and the caller builds the segment in full).
func (inc *incremental) tables(srs []*shapeRule, infos []RuleInfo, s *Segment, ps *Segment, cms []ClassMap) bool {
	if ps == nil || ps.Kind != SegLookup {
		return false
	}
	if !sameClassMaps(cms, ps.Classes) {
		return false
	}
	changes := map[string]*shapeChange{}
	n := 0
	change := func(shape string) *shapeChange {
		n++
		c := changes[shape]
		if c == nil {
			c = &shapeChange{}
			changes[shape] = c
		}
		return c
	}
	for i := s.First; i < s.End && n <= incMaxChanges; i++ {
		if j := inc.match[i]; j < ps.First || j >= ps.End {
			c := change(srs[i].shape)
			c.added = append(c.added, i)
		}
	}
	for j := ps.First; j < ps.End && n <= incMaxChanges; j++ {
		if i := inc.rev[j]; i < s.First || i >= s.End {
			sr := inc.prev.classified[j]
			if sr == nil {
				return false
			}
			c := change(sr.shape)
			c.removed = append(c.removed, j)
		}
	}
	if n > incMaxChanges {
		return false
	}
	found := 0
	for ti := range ps.Tables {
		pt := &ps.Tables[ti]
		c := changes[pt.Shape]
		if c == nil {
			continue
		}
		found++
		if pt.nrules+len(c.added)-len(c.removed) <= 0 {
			return false // the shape is emptied: the full build keeps or drops its table
		}
	}
	if found != len(changes) {
		return false // a new shape
	}
	s.Classes = cms
	s.Tables = make([]Table, len(ps.Tables))
	touched := make([]bool, len(ps.Tables))
	for ti := range ps.Tables {
		pt := &ps.Tables[ti]
		c := changes[pt.Shape]
		if c == nil {
			s.Tables[ti] = *pt
			continue
		}
		touched[ti] = true
		t, ok := Table{}, false
		switch pt.Kind {
		case TableHash:
			t, ok = inc.editHash(srs, infos, cms, pt, c)
		case TableLPM:
			t, ok = inc.editLPM(srs, infos, cms, pt, c) // incremental_lpm.go
		}
		if !ok {
			t = inc.rebuildShape(srs, infos, s, pt)
		}
		s.Tables[ti] = t
	}
	inc.filters(s, ps, touched)
	buildPrechecks(s)
	incrementalSegments.Add(1)
	return true
}

// sameClassMaps reports whether two segments split their range fields
// identically.
func sameClassMaps(a, b []ClassMap) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Field != b[i].Field || !slices.Equal(a[i].Starts, b[i].Starts) {
			return false
		}
	}
	return true
}

// rebuildShape builds the table of pt's shape from the segment's rules of
// that shape, as the full build does.
func (inc *incremental) rebuildShape(srs []*shapeRule, infos []RuleInfo, s *Segment, pt *Table) Table {
	var rules []int
	for i := s.First; i < s.End; i++ {
		if srs[i].shape == pt.Shape {
			rules = append(rules, i)
		}
	}
	t := buildTable(srs, infos, s.Classes, pt.Shape, rules, pt.Kind == TableLPM)
	t.nrules = len(rules)
	finishTable(&t, pt, inc.opts)
	return t
}

// keyEdit is the change of one entry of a hash table.
type keyEdit struct {
	key     []byte
	id      string // the entry's dedup key in Table.dups
	add     []Value
	removed []Value
}

// editHash edits hash table pt for the rules of c: the entries of removed
// rules lose their value (the next rule giving the key takes over, see
// Table.dups), those of added rules are inserted. false when the rules do
// not fit the table (a prefix length other than the table's mask).
func (inc *incremental) editHash(srs []*shapeRule, infos []RuleInfo, cms []ClassMap, pt *Table, c *shapeChange) (Table, bool) {
	edits := map[string]*keyEdit{}
	collect := func(sr *shapeRule, v Value, add bool) bool {
		if sr.dead {
			return true
		}
		es, ok := ruleEntries(sr, cms, pt)
		if !ok {
			return false
		}
		for _, e := range es {
			ke := edits[string(e.Key)]
			if ke == nil {
				ke = &keyEdit{key: e.Key, id: entryID(e.Key, e.PrefixLen)}
				edits[string(e.Key)] = ke
			}
			if add {
				ke.add = append(ke.add, v)
			} else {
				ke.removed = append(ke.removed, v)
			}
		}
		return true
	}
	for _, j := range c.removed {
		ri := inc.prev.Rules[j]
		if !collect(inc.prev.classified[j], Value{Prio: ri.Prio, ID: ri.ID}, false) {
			return Table{}, false
		}
	}
	for _, i := range c.added {
		if !collect(srs[i], Value{Prio: infos[i].Prio, ID: infos[i].ID}, true) {
			return Table{}, false
		}
	}
	keys := make([]*keyEdit, 0, len(edits))
	for _, ke := range edits {
		keys = append(keys, ke)
	}
	sort.Slice(keys, func(a, b int) bool { return bytes.Compare(keys[a].key, keys[b].key) < 0 })
	plen := 8 * pt.KeySize
	dups := pt.dups
	cloned := false
	out := make([]Entry, 0, len(pt.Entries)+len(keys))
	old := pt.Entries
	for _, ke := range keys {
		// Copy the untouched entries before this key.
		k := sort.Search(len(old), func(i int) bool { return bytes.Compare(old[i].Key, ke.key) >= 0 })
		out = append(out, old[:k]...)
		old = old[k:]
		id := ke.id
		var list []Value
		if l, ok := dups[id]; ok {
			list = slices.Clone(l)
		} else if len(old) > 0 && bytes.Equal(old[0].Key, ke.key) {
			list = []Value{old[0].Value}
		}
		if len(old) > 0 && bytes.Equal(old[0].Key, ke.key) {
			old = old[1:]
		}
		list, ok := editValues(list, ke.removed, ke.add)
		if !ok {
			return Table{}, false // not what the previous build recorded
		}
		dups, cloned = recordDups(dups, cloned, id, list)
		if len(list) > 0 {
			out = append(out, Entry{Key: ke.key, PrefixLen: plen, Value: list[0]})
		}
	}
	out = append(out, old...)
	if len(dups) == 0 {
		dups = nil
	}
	t := *pt
	t.Entries, t.dups = out, dups
	t.nrules += len(c.added) - len(c.removed)
	t.Key = slices.Clone(pt.Key)
	for i := range t.Key {
		t.Key[i].Const = nil
	}
	t.Filter, t.FilterBit = -1, 0
	finishTable(&t, pt, inc.opts)
	return t, true
}

// ruleEntries returns the entries rule sr gives in hash table t (values
// unset), with the prefix length the full build keys them by; false when
// the rule's prefix length differs from the table's mask.
func ruleEntries(sr *shapeRule, cms []ClassMap, t *Table) ([]Entry, bool) {
	tb := &tableBuilder{plens: map[int]bool{}, best: map[string]int{}}
	tb.t.Key, tb.t.KeySize = t.Key, t.KeySize
	fixedBits := 8 * t.KeySize
	hasPrefix := len(sr.comps) > 0 && sr.comps[len(sr.comps)-1].kind == compPrefix
	if hasPrefix {
		fixedBits -= 8 * t.Key[len(t.Key)-1].Width
	}
	tb.addRule(sr, cms, fixedBits, Value{})
	if hasPrefix {
		want := ir.PrefixLen(t.Key[len(t.Key)-1].Mask)
		for p := range tb.plens {
			if p != want {
				return nil, false
			}
		}
	}
	return tb.t.Entries, true
}

// filters sets the segment's filters: the previous ones when none of
// their tables was touched, else recomputed.
func (inc *incremental) filters(s *Segment, ps *Segment, touched []bool) {
	for ti := range ps.Tables {
		s.Tables[ti].Filter, s.Tables[ti].FilterBit = ps.Tables[ti].Filter, ps.Tables[ti].FilterBit
		if touched[ti] && filterable(&s.Tables[ti]) != filterable(&ps.Tables[ti]) {
			buildFilters(s, ps) // the grouping may change
			return
		}
	}
	s.Filters = ps.Filters
	for fi := range ps.Filters {
		f, ok := refilter(s, ps, fi, touched)
		if !ok {
			buildFilters(s, ps)
			return
		}
		if fi == 0 {
			s.Filters = slices.Clone(ps.Filters)
		}
		s.Filters[fi] = f
	}
}

// editValues removes the values removed from list (the values a table key
// holds, first wins) and inserts the values add in order; ok is false when
// a removed value is not in list (not what the previous build recorded).
func editValues(list, removed, add []Value) ([]Value, bool) {
	for _, v := range removed {
		x := slices.Index(list, v)
		if x < 0 {
			return nil, false
		}
		list = slices.Delete(list, x, x+1)
	}
	for _, v := range add {
		list = insertValue(list, v)
	}
	return list, true
}

// recordDups keeps dups (the keys holding two or more values) in step with
// the edited list of key id. dups may be shared with the previous plan: it
// is copied on the first write (cloned says whether it was already).
func recordDups(dups map[string][]Value, cloned bool, id string, list []Value) (map[string][]Value, bool) {
	if _, had := dups[id]; !had && len(list) <= 1 {
		return dups, cloned
	}
	if !cloned {
		dups, cloned = maps.Clone(dups), true
		if dups == nil {
			dups = map[string][]Value{}
		}
	}
	if len(list) > 1 {
		dups[id] = list
	} else {
		delete(dups, id)
	}
	return dups, cloned
}
