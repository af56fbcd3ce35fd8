package optimizer

import (
	"bytes"
	"cmp"
	"slices"
	"sort"

	"github.com/bpfilter-go/bpfilter/ir"
)

// Incremental filters: when a few entries of a filter's tables were added
// or removed, only the filter entries of those addresses change (their
// raw bitmaps), and in an LPM filter the entries nested in them (their
// ancestors' bits). refilter edits the previous filter accordingly.

// faddr identifies a filter entry: address (at most 16 bytes) and prefix
// length.
type faddr struct {
	a [16]byte
	l int
}

func mkFaddr(key []byte, plen int) faddr {
	var k faddr
	copy(k.a[:], key)
	k.l = plen
	return k
}

// tableAddr returns the filter address of entry e of table t (kp and
// plen from filterPart).
func tableAddr(t *Table, kp *KeyPart, plen, w int, e *Entry) faddr {
	l := plen
	if l < 0 {
		l = e.PrefixLen - 8*(t.KeySize-w)
	}
	return mkFaddr(e.Key[kp.Offset:kp.Offset+w], l)
}

// refilter computes filter pf of segment s (whose tables are those of ps,
// the touched ones edited) by editing pf; false when it cannot (a table
// left the filter's conditions, or a short prefix appears in a hash
// filter): then the caller rebuilds the filters.
func refilter(s, ps *Segment, fi int, touched []bool) (Filter, bool) {
	pf := &ps.Filters[fi]
	w := pf.Field.Width()
	affected := map[faddr]uint32{} // address → bits of the untouched tables (filled below)
	var touchedBits uint32
	for bit, ti := range pf.Tables {
		if !touched[ti] {
			continue
		}
		touchedBits |= 1 << bit
		ot, nt := &ps.Tables[ti], &s.Tables[ti]
		if !filterable(nt) {
			return Filter{}, false
		}
		kp, plen, ok := filterPart(nt, pf.Field)
		if !ok {
			return Filter{}, false
		}
		put, del := diffEntries(ot.Entries, nt.Entries)
		for _, es := range [][]Entry{put, del} {
			for i := range es {
				affected[tableAddr(nt, kp, plen, w, &es[i])] = 0
			}
		}
	}
	if len(affected) == 0 {
		return *pf, true
	}
	// The new raw bitmap of every affected address: the untouched
	// tables' bits as before, the touched tables' from their entries.
	for k := range affected {
		if j := findFilterEntry(pf.Entries, k.a[:w], k.l); j >= 0 {
			affected[k] = pf.Entries[j].raw &^ touchedBits
		}
	}
	for bit, ti := range pf.Tables {
		if !touched[ti] {
			continue
		}
		nt := &s.Tables[ti]
		kp, plen, _ := filterPart(nt, pf.Field)
		if kp.Offset == 0 {
			// The address leads the key: look the few affected
			// addresses up rather than scanning the table.
			for k, b := range affected {
				if tableHasAddr(nt, kp, plen, w, k) {
					affected[k] = b | 1<<bit
				}
			}
			continue
		}
		for i := range nt.Entries {
			k := tableAddr(nt, kp, plen, w, &nt.Entries[i])
			if b, ok := affected[k]; ok {
				affected[k] = b | 1<<bit
			}
		}
	}
	keys := make([]faddr, 0, len(affected))
	for k := range affected {
		if k.l < 8*w && !pf.LPM {
			return Filter{}, false
		}
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b faddr) int {
		if c := bytes.Compare(a.a[:w], b.a[:w]); c != 0 {
			return c
		}
		return cmp.Compare(a.l, b.l)
	})
	// Merge the changes into the sorted entries.
	out := make([]FilterEntry, 0, len(pf.Entries)+len(keys))
	old := pf.Entries
	for _, k := range keys {
		x := sort.Search(len(old), func(i int) bool {
			if c := bytes.Compare(old[i].Key, k.a[:w]); c != 0 {
				return c > 0
			}
			return old[i].PrefixLen >= k.l
		})
		out = append(out, old[:x]...)
		old = old[x:]
		if len(old) > 0 && old[0].PrefixLen == k.l && bytes.Equal(old[0].Key, k.a[:w]) {
			old = old[1:]
		}
		if raw := affected[k]; raw != 0 {
			out = append(out, FilterEntry{Key: append([]byte(nil), k.a[:w]...), PrefixLen: k.l, Bits: raw, raw: raw})
		}
	}
	out = append(out, old...)
	f := *pf
	f.Entries = out
	if pf.LPM {
		propagate(out, keys, w)
	}
	if f.Capacity < len(f.Entries) {
		f.Capacity = capacity(len(f.Entries))
	}
	return f, true
}

// propagate recomputes Bits (raw ORed with every ancestor's raw) of the
// entries nested in one of the changed prefixes (sorted entries es).
func propagate(es []FilterEntry, changed []faddr, w int) {
	var lens [8*16 + 1]bool // prefix lengths of at most 16 bytes
	for i := range es {
		lens[es[i].PrefixLen] = true
	}
	var ls []int
	for l, ok := range lens {
		if ok {
			ls = append(ls, l)
		}
	}
	// The entries nested in a changed prefix follow it in the sorted
	// entries (its key has no bits past its length); one nested in
	// several is recomputed several times, from the raw bitmaps only.
	for _, c := range changed {
		p := c.a[:w]
		lo := and(p, ir.PrefixMask(c.l, w)) // the smallest key in p/l
		i := sort.Search(len(es), func(i int) bool { return bytes.Compare(es[i].Key, lo) >= 0 })
		for ; i < len(es) && inPrefix(es[i].Key, p, c.l); i++ {
			if c.l <= es[i].PrefixLen {
				recomputeBits(es, i, ls, w)
			}
		}
	}
}

// recomputeBits sets the Bits of entry i of es to its raw bitmap ORed with
// those of the entries containing it (ls: the prefix lengths present).
func recomputeBits(es []FilterEntry, i int, ls []int, w int) {
	e := &es[i]
	b := e.raw
	for _, l := range ls {
		if l >= e.PrefixLen {
			break
		}
		if j := findFilterEntry(es, and(e.Key, ir.PrefixMask(l, w)), l); j >= 0 {
			b |= es[j].raw
		}
	}
	e.Bits = b
}

// tableHasAddr reports whether table t, whose filter part kp leads the key
// (Offset 0), has an entry of filter address k (plen from filterPart).
func tableHasAddr(t *Table, kp *KeyPart, plen, w int, k faddr) bool {
	es := t.Entries
	a := k.a[:w]
	i := sort.Search(len(es), func(i int) bool { return bytes.Compare(es[i].Key[:w], a) >= 0 })
	for ; i < len(es) && bytes.Equal(es[i].Key[:w], a); i++ {
		if tableAddr(t, kp, plen, w, &es[i]).l == k.l {
			return true
		}
	}
	return false
}

// inPrefix reports whether key lies in prefix p/l (p has no bits past l).
func inPrefix(key, p []byte, l int) bool {
	full := l / 8
	if !bytes.Equal(key[:full], p[:full]) {
		return false
	}
	if r := l % 8; r != 0 {
		m := byte(0xff << (8 - r))
		return key[full]&m == p[full]
	}
	return true
}

// findFilterEntry returns the index of the entry with key and prefix
// length l in es, sorted by key then prefix length, or -1.
func findFilterEntry(es []FilterEntry, key []byte, l int) int {
	i := sort.Search(len(es), func(i int) bool {
		if c := bytes.Compare(es[i].Key, key); c != 0 {
			return c > 0
		}
		return es[i].PrefixLen >= l
	})
	if i < len(es) && es[i].PrefixLen == l && bytes.Equal(es[i].Key, key) {
		return i
	}
	return -1
}
