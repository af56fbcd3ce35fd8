package optimizer

import (
	"bytes"
	"sort"

	"github.com/bpfilter-go/bpfilter/ir"
)

// filterPart returns the offset of t's full-width exact part on field f
// (-1: none).
func filterPart(t *Table, f ir.Field) int {
	for _, kp := range t.Key {
		if kp.Field == f && kp.Class < 0 && !kp.Prefix && bytes.Equal(kp.Mask, fullMask(kp.Width)) {
			return kp.Offset
		}
	}
	return -1
}

// isAddrField reports whether f is an address field (as canonicalised).
func isAddrField(f ir.Field) bool {
	return f == ir.IP4Snet || f == ir.IP4Dnet || f == ir.IP6Snet || f == ir.IP6Dnet
}

// buildFilters groups the segment's map tables by a shared exact address
// part: greedily, the address field present in the most tables (at least
// two) gets a filter over them; each table joins at most one filter. With
// a previous segment whose filters are known, its grouping is kept when the
// same tables (by shape) still qualify, so the program stays unchanged.
func buildFilters(s *Segment, prev *Segment) {
	for i := range s.Tables {
		s.Tables[i].Filter, s.Tables[i].FilterBit = -1, 0
	}
	assigned := make([]bool, len(s.Tables))
	var groups []Filter
	if prev != nil {
		for _, pf := range prev.Filters {
			var tabs []int
			for _, pti := range pf.Tables {
				ti := tableIndexByShape(s, prev.Tables[pti].Shape)
				if ti < 0 || assigned[ti] || !filterable(&s.Tables[ti]) || filterPart(&s.Tables[ti], pf.Field) < 0 {
					tabs = nil
					break
				}
				tabs = append(tabs, ti)
			}
			if len(tabs) == len(pf.Tables) {
				for _, ti := range tabs {
					assigned[ti] = true
				}
				groups = append(groups, Filter{Field: pf.Field, Tables: tabs, Capacity: pf.Capacity})
			}
		}
	}
	for {
		count := map[ir.Field][]int{}
		for ti := range s.Tables {
			if assigned[ti] || !filterable(&s.Tables[ti]) {
				continue
			}
			for _, kp := range s.Tables[ti].Key {
				if isAddrField(kp.Field) && filterPart(&s.Tables[ti], kp.Field) == kp.Offset {
					count[kp.Field] = append(count[kp.Field], ti)
				}
			}
		}
		best := ir.FieldInvalid
		for f, tabs := range count {
			if len(tabs) >= 2 && (best == ir.FieldInvalid || len(tabs) > len(count[best]) || (len(tabs) == len(count[best]) && f < best)) {
				best = f
			}
		}
		if best == ir.FieldInvalid {
			break
		}
		tabs := count[best]
		if len(tabs) > MaxFilterTables {
			tabs = tabs[:MaxFilterTables]
		}
		for _, ti := range tabs {
			assigned[ti] = true
		}
		groups = append(groups, Filter{Field: best, Tables: tabs})
	}
	s.Filters = nil
	for fi := range groups {
		f := &groups[fi]
		bits := map[string]uint32{}
		for bit, ti := range f.Tables {
			t := &s.Tables[ti]
			t.Filter, t.FilterBit = fi, bit
			off := filterPart(t, f.Field)
			for _, e := range t.Entries {
				bits[string(e.Key[off:off+f.Field.Width()])] |= 1 << bit
			}
		}
		f.Entries = make([]FilterEntry, 0, len(bits))
		for k, b := range bits {
			f.Entries = append(f.Entries, FilterEntry{Key: []byte(k), Bits: b})
		}
		sort.Slice(f.Entries, func(a, b int) bool { return bytes.Compare(f.Entries[a].Key, f.Entries[b].Key) < 0 })
		if f.Capacity < len(f.Entries) {
			f.Capacity = capacity(len(f.Entries))
		}
		s.Filters = append(s.Filters, *f)
	}
}

// filterable: map tables only (inline tables are compares, constants need
// no lookup).
func filterable(t *Table) bool { return t.Kind != TableAlways && !t.Inline }

func tableIndexByShape(s *Segment, shape string) int {
	for i := range s.Tables {
		if s.Tables[i].Shape == shape {
			return i
		}
	}
	return -1
}
