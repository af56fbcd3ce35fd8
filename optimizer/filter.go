package optimizer

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"slices"
	"sort"

	"github.com/bpfilter-go/bpfilter/ir"
)

// filterPart finds t's part on address field f usable by a filter: an exact
// part with a prefix mask (plen: its length) or the LPM prefix part (plen
// -1: per entry). ok is false when t has none.
func filterPart(t *Table, f ir.Field) (kp *KeyPart, plen int, ok bool) {
	for i := range t.Key {
		kp := &t.Key[i]
		if kp.Field != f || kp.Class >= 0 {
			continue
		}
		if kp.Prefix {
			return kp, -1, true
		}
		if l := ir.PrefixLen(kp.Mask); l >= 0 {
			return kp, l, true
		}
	}
	return nil, 0, false
}

// isAddrField reports whether f is an address field (as canonicalised).
func isAddrField(f ir.Field) bool {
	return f == ir.IP4Snet || f == ir.IP4Dnet || f == ir.IP6Snet || f == ir.IP6Dnet
}

// buildFilters groups the segment's map tables by a shared address part:
// greedily, the address field present in the most tables (at least two)
// gets a filter over them; each table joins at most one filter. With a
// previous segment, its grouping is kept when the same tables (by shape)
// still qualify, so the program stays unchanged.
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
				if ti < 0 || assigned[ti] || !filterable(&s.Tables[ti]) {
					break
				}
				if _, _, ok := filterPart(&s.Tables[ti], pf.Field); !ok {
					break
				}
				tabs = append(tabs, ti)
			}
			if len(tabs) == len(pf.Tables) {
				for _, ti := range tabs {
					assigned[ti] = true
				}
				groups = append(groups, Filter{Field: pf.Field, Tables: tabs, Capacity: pf.Capacity, LPM: pf.LPM, Dir16: pf.Dir16})
			}
		}
	}
	for {
		count := map[ir.Field][]int{}
		for ti := range s.Tables {
			if assigned[ti] || !filterable(&s.Tables[ti]) {
				continue
			}
			seen := map[ir.Field]bool{}
			for _, kp := range s.Tables[ti].Key {
				if isAddrField(kp.Field) && !seen[kp.Field] {
					if _, _, ok := filterPart(&s.Tables[ti], kp.Field); ok {
						seen[kp.Field] = true
						count[kp.Field] = append(count[kp.Field], ti)
					}
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
		groups = append(groups, Filter{Field: best, Tables: tabs, Dir16: dir16Eligible(best, len(tabs))})
	}
	s.Filters = nil
	for fi := range groups {
		f := &groups[fi]
		fillFilter(s, f, fi)
		s.Filters = append(s.Filters, *f)
	}
}

// fillFilter computes a filter's entries: every (address, prefix length)
// of its tables with the bitmap of the tables using it, each entry ORed
// with its ancestors' bitmaps so the longest match gives every table that
// has an entry containing the address.
func fillFilter(s *Segment, f *Filter, fi int) {
	w := f.Field.Width()
	type fkey struct {
		key  string
		plen int
	}
	bits := map[fkey]uint32{}
	for bit, ti := range f.Tables {
		t := &s.Tables[ti]
		t.Filter, t.FilterBit = fi, bit
		kp, plen, _ := filterPart(t, f.Field)
		for _, e := range t.Entries {
			l := plen
			if l < 0 {
				l = e.PrefixLen - 8*(t.KeySize-w)
			}
			addr := e.Key[kp.Offset : kp.Offset+w]
			bits[fkey{string(addr), l}] |= 1 << bit
		}
	}
	f.Entries = make([]FilterEntry, 0, len(bits))
	byLen := map[int]map[string]uint32{}
	var lens []int
	for k, b := range bits {
		f.Entries = append(f.Entries, FilterEntry{Key: []byte(k.key), PrefixLen: k.plen, Bits: b, raw: b})
		if byLen[k.plen] == nil {
			byLen[k.plen] = map[string]uint32{}
			lens = append(lens, k.plen)
		}
		byLen[k.plen][k.key] = b
		if k.plen < 8*w {
			f.LPM = true
		}
	}
	sort.Ints(lens)
	if f.LPM {
		for i := range f.Entries {
			e := &f.Entries[i]
			for _, l := range lens {
				if l >= e.PrefixLen {
					break
				}
				if b, ok := byLen[l][string(and(e.Key, ir.PrefixMask(l, w)))]; ok {
					e.Bits |= b
				}
			}
		}
	}
	slices.SortFunc(f.Entries, func(ea, eb FilterEntry) int {
		if c := bytes.Compare(ea.Key, eb.Key); c != 0 {
			return c
		}
		return cmp.Compare(ea.PrefixLen, eb.PrefixLen)
	})
	if f.Capacity < len(f.Entries) {
		f.Capacity = capacity(len(f.Entries))
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

// MapKeySize is the key size of the filter's BPF map (the address, plus
// the 4-byte prefix length header of an LPM trie).
func (f *Filter) MapKeySize() int {
	if f.LPM {
		return 4 + f.Field.Width()
	}
	return f.Field.Width()
}

// MapKey encodes an address as the filter's map expects it (for LPM: a
// host-order u32 prefix length, Field.Width()*8 at lookup, then the
// address).
func (f *Filter) MapKey(addr []byte, prefixLen int) []byte {
	if !f.LPM {
		return append([]byte(nil), addr...)
	}
	k := binary.NativeEndian.AppendUint32(make([]byte, 0, 4+len(addr)), uint32(prefixLen))
	return append(k, addr...)
}
