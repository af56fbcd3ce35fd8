package optimizer

import (
	"bytes"
	"cmp"
	"maps"
	"slices"
	"sort"

	"github.com/bpfilter-go/bpfilter/ir"
)

// Incremental LPM tables. An LPM entry's Value is the smallest priority
// among its own rules (Entry.raw, with Table.dups when several rules give
// the prefix) and its ancestors' (finishPrefix). editLPM edits the raw
// values of the prefixes the added and removed rules give, as editHash
// does for hash entries, then recomputes Value for the entries nested in
// a changed prefix only: the others keep their ancestors and values.

// lpmEdit is the change of one prefix of an LPM table.
type lpmEdit struct {
	key     []byte
	plen    int
	add     []Value
	removed []Value
}

// editLPM edits LPM table pt for the rules of c; false when the previous
// table does not record what a removed rule gave (then the caller
// rebuilds the table).
func (inc *incremental) editLPM(srs []*shapeRule, infos []RuleInfo, cms []ClassMap, pt *Table, c *shapeChange) (Table, bool) {
	last := &pt.Key[len(pt.Key)-1]
	if !last.Prefix {
		return Table{}, false
	}
	fixedBits := 8 * (pt.KeySize - last.Width)
	edits := map[string]*lpmEdit{}
	collect := func(sr *shapeRule, v Value, add bool) {
		if sr.dead {
			return
		}
		tb := &tableBuilder{plens: map[int]bool{}, best: map[string]int{}}
		tb.t.Key, tb.t.KeySize = pt.Key, pt.KeySize
		tb.addRule(sr, cms, fixedBits, Value{})
		for _, e := range tb.t.Entries {
			id := entryID(e.Key, e.PrefixLen)
			ke := edits[id]
			if ke == nil {
				ke = &lpmEdit{key: e.Key, plen: e.PrefixLen}
				edits[id] = ke
			}
			if add {
				ke.add = append(ke.add, v)
			} else {
				ke.removed = append(ke.removed, v)
			}
		}
	}
	for _, j := range c.removed {
		ri := inc.prev.Rules[j]
		collect(inc.prev.classified[j], Value{Prio: ri.Prio, ID: ri.ID}, false)
	}
	for _, i := range c.added {
		collect(srs[i], Value{Prio: infos[i].Prio, ID: infos[i].ID}, true)
	}
	keys := slices.Collect(maps.Values(edits))
	slices.SortFunc(keys, func(a, b *lpmEdit) int {
		if c := bytes.Compare(a.key, b.key); c != 0 {
			return c
		}
		return cmp.Compare(a.plen, b.plen)
	})
	dups, cloned := pt.dups, false
	out := make([]Entry, 0, len(pt.Entries)+len(keys))
	old := pt.Entries
	for _, ke := range keys {
		k := sort.Search(len(old), func(i int) bool { return entryCmp(&old[i], ke.key, ke.plen) >= 0 })
		out = append(out, old[:k]...)
		old = old[k:]
		id := entryID(ke.key, ke.plen)
		here := len(old) > 0 && entryCmp(&old[0], ke.key, ke.plen) == 0
		var list []Value
		if l, ok := dups[id]; ok {
			list = slices.Clone(l)
		} else if here {
			list = []Value{old[0].raw}
		}
		if here {
			old = old[1:]
		}
		list, ok := editValues(list, ke.removed, ke.add)
		if !ok {
			return Table{}, false // not what the previous build recorded
		}
		dups, cloned = recordDups(dups, cloned, id, list)
		if len(list) > 0 {
			out = append(out, Entry{Key: ke.key, PrefixLen: ke.plen, Value: list[0], raw: list[0]})
		}
	}
	out = append(out, old...)
	if len(dups) == 0 {
		dups = nil
	}
	lens := make([]bool, 8*pt.KeySize+1)
	for i := range out {
		lens[out[i].PrefixLen] = true
	}
	var ls []int
	for l, ok := range lens {
		if ok {
			ls = append(ls, l)
		}
	}
	// The entries nested in a changed prefix follow its smallest key in
	// the sorted entries.
	for _, ke := range keys {
		lo := and(ke.key, ir.PrefixMask(ke.plen, pt.KeySize))
		i := sort.Search(len(out), func(i int) bool { return bytes.Compare(out[i].Key, lo) >= 0 })
		for ; i < len(out) && inPrefix(out[i].Key, lo, ke.plen); i++ {
			if out[i].PrefixLen >= ke.plen {
				lpmValue(out, i, ls, pt.KeySize)
			}
		}
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

// entryCmp orders entry e against (key, plen) as sortEntries does.
func entryCmp(e *Entry, key []byte, plen int) int {
	if c := bytes.Compare(e.Key, key); c != 0 {
		return c
	}
	return cmp.Compare(e.PrefixLen, plen)
}

// lpmValue sets the Value of entry i of the sorted LPM entries es to the
// smallest priority among its raw value and its ancestors' (ls: the prefix
// lengths present, ascending), as finishPrefix does.
func lpmValue(es []Entry, i int, ls []int, keySize int) {
	e := &es[i]
	v := e.raw
	for _, l := range ls {
		if l >= e.PrefixLen {
			break
		}
		k := and(e.Key, ir.PrefixMask(l, keySize))
		j := sort.Search(len(es), func(j int) bool { return entryCmp(&es[j], k, l) >= 0 })
		if j < len(es) && entryCmp(&es[j], k, l) == 0 && es[j].raw.Prio < v.Prio {
			v = es[j].raw
		}
	}
	e.Value = v
}
