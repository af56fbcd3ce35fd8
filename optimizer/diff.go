package optimizer

import (
	"bytes"
	"fmt"
	"slices"
	"sort"

	"github.com/bpfilter-go/bpfilter/ir"
)

// Delta is what it takes to go from one plan to the next without
// recompiling: map writes only. When Rebuild is set the program structure
// changed (Reason says how) and the new plan must be compiled and loaded;
// the other fields are then empty.
type Delta struct {
	Rebuild bool
	Reason  string
	// Tables lists entry changes per lookup table.
	Tables []TableDelta
	// Classes lists range-class array changes.
	Classes []ClassDelta
	// Filters lists address prefilter changes.
	Filters []FilterDelta
	// Prechecks lists field precheck array changes.
	Prechecks []PrecheckDelta
	// Sets lists element changes of the chain's sets (the maps linear
	// rules look up).
	Sets []SetDelta
	// Actions lists the rule IDs whose dispatch entry (verdict, mark) must
	// be written from the new plan's rule (RuleByID).
	Actions []uint32
	// ResetCounters lists the rule IDs that now name a new rule: their
	// counters must be zeroed. Counters of every other ID carry over.
	ResetCounters []uint32
}

// TableDelta is the entry changes of table Table of segment Segment.
type TableDelta struct {
	Segment, Table int
	// Put are entries to add or overwrite; Delete entries to remove (only
	// Key and PrefixLen matter).
	Put    []Entry
	Delete []Entry
}

// FilterDelta is the entry changes of filter Filter of segment Segment.
type FilterDelta struct {
	Segment, Filter int
	// Put are entries to add or whose bitmap changed; Delete entries to
	// remove (only Key and PrefixLen matter).
	Put    []FilterEntry
	Delete []FilterEntry
	// Buckets are the Dir16 array writes (Filter.Dir16 only).
	Buckets []BucketUpdate
}

// ClassDelta is the changes of one class array.
type ClassDelta struct {
	Segment, Class int
	Updates        []ClassUpdate
}

// ClassUpdate writes class Class at array index Value.
type ClassUpdate struct {
	Value uint32
	Class uint16
}

// SetDelta is the element changes of one set.
type SetDelta struct {
	Set         string
	Add, Delete []ir.SetElem
}

// Writes is the number of map writes (puts, deletes, class updates, set
// changes, actions, counter resets) the delta costs.
func (d *Delta) Writes() int {
	n := len(d.Actions) + len(d.ResetCounters)
	for _, t := range d.Tables {
		n += len(t.Put) + len(t.Delete)
	}
	for _, c := range d.Classes {
		n += len(c.Updates)
	}
	for _, f := range d.Filters {
		n += len(f.Put) + len(f.Delete) + len(f.Buckets)
	}
	for _, s := range d.Sets {
		n += len(s.Add) + len(s.Delete)
	}
	for _, p := range d.Prechecks {
		n += len(p.Updates)
	}
	return n
}

// Diff compares the loaded plan old with new (built with
// Options{Previous: old}) and returns the map writes that turn one into
// the other, or a Delta with Rebuild set when the program structure
// differs.
func Diff(old, new *Plan) (Delta, error) {
	if old == nil || new == nil {
		return Delta{}, fmt.Errorf("optimizer: diff needs two plans")
	}
	if why := structureChange(old, new); why != "" {
		return Delta{Rebuild: true, Reason: why}, nil
	}
	var d Delta
	for si := range new.Segments {
		os, ns := &old.Segments[si], &new.Segments[si]
		if ns.Kind != SegLookup {
			continue
		}
		for ci := range ns.Classes {
			if u := diffClasses(&os.Classes[ci], &ns.Classes[ci]); len(u) > 0 {
				d.Classes = append(d.Classes, ClassDelta{Segment: si, Class: ci, Updates: u})
			}
		}
		for fi := range ns.Filters {
			if sameBacking(os.Filters[fi].Entries, ns.Filters[fi].Entries) {
				continue
			}
			put, del := diffFilter(os.Filters[fi].Entries, ns.Filters[fi].Entries)
			if len(put)+len(del) > 0 {
				fd := FilterDelta{Segment: si, Filter: fi, Put: put, Delete: del}
				if ns.Filters[fi].Dir16 {
					fd.Buckets = diffBuckets(&os.Filters[fi], &ns.Filters[fi], put, del)
				}
				d.Filters = append(d.Filters, fd)
			}
		}
		for pi := range ns.Prechecks {
			if u := diffPrechecks(os, ns, pi); len(u) > 0 {
				d.Prechecks = append(d.Prechecks, PrecheckDelta{Segment: si, Check: pi, Updates: u})
			}
		}
		for ti := range ns.Tables {
			if sameBacking(os.Tables[ti].Entries, ns.Tables[ti].Entries) {
				continue // shared by an incremental build: unchanged
			}
			put, del := diffEntries(os.Tables[ti].Entries, ns.Tables[ti].Entries)
			if len(put)+len(del) > 0 {
				d.Tables = append(d.Tables, TableDelta{Segment: si, Table: ti, Put: put, Delete: del})
			}
		}
	}
	for i, s := range new.Chain.Sets {
		add, del := diffSet(old.Chain.Sets[i], s)
		if len(add)+len(del) > 0 {
			d.Sets = append(d.Sets, SetDelta{Set: s.Name, Add: add, Delete: del})
		}
	}
	for i, ri := range new.Rules {
		oi, ok := old.RuleByID(ri.ID)
		if ok && old.fingerprints[oi] == new.fingerprints[i] {
			continue
		}
		d.ResetCounters = append(d.ResetCounters, ri.ID)
		if ri.Classified {
			d.Actions = append(d.Actions, ri.ID)
		}
	}
	sort.Slice(d.ResetCounters, func(a, b int) bool { return d.ResetCounters[a] < d.ResetCounters[b] })
	sort.Slice(d.Actions, func(a, b int) bool { return d.Actions[a] < d.Actions[b] })
	return d, nil
}

// structureChange returns why new cannot be reached from old by map writes
// ("" when it can).
func structureChange(old, new *Plan) string {
	oc, nc := old.Chain, new.Chain
	switch {
	case oc.Hook != nc.Hook || oc.HookOpts != nc.HookOpts:
		return "hook changed"
	case oc.Policy != nc.Policy:
		return "policy changed"
	case old.IDCap != new.IDCap:
		return fmt.Sprintf("counter slots changed (%d → %d)", old.IDCap, new.IDCap)
	case len(old.Segments) != len(new.Segments):
		return fmt.Sprintf("segment count changed (%d → %d)", len(old.Segments), len(new.Segments))
	}
	if why := setStructureChange(oc.Sets, nc.Sets); why != "" {
		return why
	}
	for si := range new.Segments {
		os, ns := &old.Segments[si], &new.Segments[si]
		if os.Kind != ns.Kind {
			return fmt.Sprintf("segment %d changed from %s to %s", si, os.Kind, ns.Kind)
		}
		if ns.Kind == SegLinear {
			if os.End-os.First != ns.End-ns.First {
				return fmt.Sprintf("linear segment %d changed length", si)
			}
			for k := 0; k < ns.End-ns.First; k++ {
				oi, ni := os.First+k, ns.First+k
				if old.Rules[oi].ID != new.Rules[ni].ID || old.fingerprints[oi] != new.fingerprints[ni] {
					return fmt.Sprintf("linear rule %d changed", ni)
				}
			}
			continue
		}
		if len(os.Classes) != len(ns.Classes) || len(os.Tables) != len(ns.Tables) {
			return fmt.Sprintf("lookup segment %d changed its tables", si)
		}
		for ci := range ns.Classes {
			if os.Classes[ci].Field != ns.Classes[ci].Field {
				return fmt.Sprintf("lookup segment %d changed its range fields", si)
			}
		}
		if why := filterStructureChange(os, ns); why != "" {
			return fmt.Sprintf("segment %d %s", si, why)
		}
		if precheckStructureChange(os, ns) {
			return fmt.Sprintf("segment %d changed its prechecks", si)
		}
		for ti := range ns.Tables {
			ot, nt := &os.Tables[ti], &ns.Tables[ti]
			switch {
			case ot.Shape != nt.Shape || ot.Kind != nt.Kind || !sameLayout(ot.Key, nt.Key):
				return fmt.Sprintf("segment %d table %d changed shape", si, ti)
			case ot.Capacity != nt.Capacity:
				return fmt.Sprintf("segment %d table %d capacity changed (%d → %d)", si, ti, ot.Capacity, nt.Capacity)
			case ot.Inline != nt.Inline:
				return fmt.Sprintf("segment %d table %d changed between inline and map", si, ti)
			case nt.Inline && !sameEntries(ot.Entries, nt.Entries):
				return fmt.Sprintf("segment %d inline table %d changed", si, ti)
			}
		}
	}
	return ""
}

func setStructureChange(a, b []*ir.Set) string {
	if len(a) != len(b) {
		return "sets added or removed"
	}
	for i := range a {
		if a[i].Name != b[i].Name || a[i].IsLPM() != b[i].IsLPM() || len(a[i].Key) != len(b[i].Key) {
			return fmt.Sprintf("set %s changed", b[i].Name)
		}
		for k := range a[i].Key {
			if a[i].Key[k] != b[i].Key[k] {
				return fmt.Sprintf("set %s changed its key", b[i].Name)
			}
		}
	}
	return ""
}

func sameEntries(a, b []Entry) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].PrefixLen != b[i].PrefixLen || a[i].Value != b[i].Value || !bytes.Equal(a[i].Key, b[i].Key) {
			return false
		}
	}
	return true
}

// diffEntries merges two sorted entry lists.
func diffEntries(a, b []Entry) (put, del []Entry) {
	return mergeSorted(a, b,
		func(e Entry) ([]byte, int) { return e.Key, e.PrefixLen },
		func(x, y Entry) bool { return x.Value == y.Value })
}

// mergeSorted compares two lists sorted by (key bytes, prefix length): the
// elements only in a are deleted, those only in b or whose payload differs
// (same reports equal payloads) are put.
func mergeSorted[E any](a, b []E, key func(E) ([]byte, int), same func(x, y E) bool) (put, del []E) {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		var c int
		switch {
		case i == len(a):
			c = 1
		case j == len(b):
			c = -1
		default:
			ka, pa := key(a[i])
			kb, pb := key(b[j])
			// Plans of an incremental build share the key bytes of
			// their unchanged entries: the same bytes are equal.
			if !sameBacking(ka, kb) {
				c = bytes.Compare(ka, kb)
			}
			if c == 0 {
				c = pa - pb
			}
		}
		switch {
		case c < 0:
			del = append(del, a[i])
			i++
		case c > 0:
			put = append(put, b[j])
			j++
		default:
			if !same(a[i], b[j]) {
				put = append(put, b[j])
			}
			i++
			j++
		}
	}
	return put, del
}

// diffClasses lists the array indices whose class changed.
func diffClasses(a, b *ClassMap) []ClassUpdate {
	if len(a.Starts) == len(b.Starts) {
		same := true
		for i := range a.Starts {
			if a.Starts[i] != b.Starts[i] {
				same = false
				break
			}
		}
		if same {
			return nil
		}
	}
	oa, na := a.Array(), b.Array()
	var u []ClassUpdate
	for v := range na {
		if oa[v] != na[v] {
			u = append(u, ClassUpdate{Value: uint32(v), Class: na[v]})
		}
	}
	return u
}

// diffSet lists added and removed elements (prefix lengths count for LPM
// sets only).
func diffSet(a, b *ir.Set) (add, del []ir.SetElem) {
	lpm := b.IsLPM()
	id := func(e ir.SetElem) string {
		if lpm {
			return entryID(e.Key, e.PrefixLen)
		}
		return string(e.Key)
	}
	in := func(s *ir.Set) map[string]ir.SetElem {
		m := make(map[string]ir.SetElem, len(s.Elems))
		for _, e := range s.Elems {
			m[id(e)] = e
		}
		return m
	}
	am, bm := in(a), in(b)
	for _, e := range b.Elems {
		if _, ok := am[id(e)]; !ok {
			add = append(add, e)
			am[id(e)] = e
		}
	}
	for _, e := range a.Elems {
		if _, ok := bm[id(e)]; !ok {
			del = append(del, e)
			bm[id(e)] = e
		}
	}
	return add, del
}

// filterStructureChange compares the filters' layout (which tables, which
// field, capacity): that part is code.
func filterStructureChange(os, ns *Segment) string {
	if len(os.Filters) != len(ns.Filters) {
		return "changed its filters"
	}
	for fi := range ns.Filters {
		of, nf := &os.Filters[fi], &ns.Filters[fi]
		if of.Field != nf.Field || of.LPM != nf.LPM || of.Dir16 != nf.Dir16 || !slices.Equal(of.Tables, nf.Tables) {
			return fmt.Sprintf("filter %d changed", fi)
		}
		if of.Capacity != nf.Capacity {
			return fmt.Sprintf("filter %d capacity changed (%d → %d)", fi, of.Capacity, nf.Capacity)
		}
	}
	for ti := range ns.Tables {
		if ti < len(os.Tables) && (os.Tables[ti].Filter != ns.Tables[ti].Filter || os.Tables[ti].FilterBit != ns.Tables[ti].FilterBit) {
			return fmt.Sprintf("table %d changed filter", ti)
		}
	}
	return ""
}

// diffFilter merges two sorted filter entry lists.
func diffFilter(a, b []FilterEntry) (put, del []FilterEntry) {
	return mergeSorted(a, b,
		func(e FilterEntry) ([]byte, int) { return e.Key, e.PrefixLen },
		func(x, y FilterEntry) bool { return x.Bits == y.Bits })
}

// sameBacking reports whether two slices are the same memory (plans of an
// incremental build share the entries of untouched tables and filters;
// plans are never modified, so shared means equal).
func sameBacking[E any](a, b []E) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}
