package optimizer

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"slices"
	"sort"

	"github.com/bpfilter-go/bpfilter/ir"
)

// Two-level address filters (DIR-16). An IPv4 filter with Dir16 set has,
// besides its hash or LPM map, a direct-indexed array of 65,536 u32
// buckets, one per /16, looked up first (the verifier inlines array
// lookups: a few instructions, no helper call). A bucket holds either
//
//   - a table bitmap that is a superset of the tables holding an entry
//     that contains the address, for every address of that /16: the bits
//     of the longest entry of at most 16 bits containing the /16 (entries
//     carry their ancestors' bits) ORed with the bits of every longer
//     entry inside it. A table whose bit is set is looked up and decides
//     exactly, so a superset is safe; or
//   - Dir16Refine, when entries longer than /16 inside the bucket would
//     let more than dir16MaxMaybe tables through besides the cover's: the
//     filter's own map gives the exact bitmap (one hash or trie lookup
//     instead of one per table).
//
// So a packet whose /16 holds no long prefix, or long prefixes of at most
// dir16MaxMaybe tables, costs no filter map lookup — the common case for
// traffic from addresses no rule names.

// Dir16Buckets is the number of buckets of a Dir16 filter (one per /16).
const Dir16Buckets = 1 << 16

// Dir16Refine marks a bucket whose bitmap is in the filter's map. The
// other 31 bits are the table bitmap (a Dir16 filter covers at most 31
// tables).
const Dir16Refine = 1 << 31

// maxDir16Tables is the largest filter that gets a Dir16 stage (bit 31 is
// the refine flag).
const maxDir16Tables = 31

// dir16MaxMaybe is the largest number of tables a bucket lets through on
// the strength of entries longer than /16 (a filter map lookup costs
// about one table lookup).
const dir16MaxMaybe = 2

// dir16Eligible reports whether a filter on field f over n tables gets a
// Dir16 stage.
func dir16Eligible(f ir.Field, n int) bool {
	return (f == ir.IP4Snet || f == ir.IP4Dnet) && n <= maxDir16Tables
}

// Dir16Index is the bucket of an IPv4 address: its first two bytes.
func Dir16Index(addr []byte) uint32 { return uint32(binary.BigEndian.Uint16(addr)) }

// Buckets returns the Dir16 array of the filter (nil when Dir16 is not
// set), see above.
func (f *Filter) Buckets() []uint32 {
	if !f.Dir16 {
		return nil
	}
	out := make([]uint32, Dir16Buckets)
	// Entries are sorted by key then prefix length, so of nested short
	// prefixes the longer one is written last and wins.
	for _, e := range f.Entries {
		if e.PrefixLen > 16 {
			continue
		}
		lo := Dir16Index(e.Key)
		n := uint32(1) << (16 - e.PrefixLen)
		for b := lo; b < lo+n; b++ {
			out[b] = e.Bits
		}
	}
	var maybe map[uint32]uint32
	for _, e := range f.Entries {
		if e.PrefixLen > 16 {
			if maybe == nil {
				maybe = map[uint32]uint32{}
			}
			maybe[Dir16Index(e.Key)] |= e.Bits
		}
	}
	for b, m := range maybe {
		if extra := m &^ out[b]; bits.OnesCount32(extra) > dir16MaxMaybe {
			out[b] = Dir16Refine
		} else {
			out[b] |= m
		}
	}
	return out
}

// BucketUpdate writes Value at index Bucket of a Dir16 array.
type BucketUpdate struct {
	Bucket uint32
	Value  uint32
}

// diffBuckets lists the buckets whose value changed between two filters.
// Only the buckets the changed entries (put, del) cover are recomputed,
// unless they cover more than maxBucketEdits buckets.
func diffBuckets(a, b *Filter, put, del []FilterEntry) []BucketUpdate {
	seen := map[uint32]bool{}
	var cand []uint32
	for _, es := range [][]FilterEntry{put, del} {
		for _, e := range es {
			lo, n := dir16Range(e)
			if len(cand)+int(n) > maxBucketEdits {
				return diffAllBuckets(a, b)
			}
			for x := lo; x < lo+n; x++ {
				if !seen[x] {
					seen[x] = true
					cand = append(cand, x)
				}
			}
		}
	}
	slices.Sort(cand)
	var u []BucketUpdate
	for _, x := range cand {
		if ov, nv := bucketValue(a.Entries, x), bucketValue(b.Entries, x); ov != nv {
			u = append(u, BucketUpdate{Bucket: x, Value: nv})
		}
	}
	return u
}

// maxBucketEdits bounds the buckets diffBuckets recomputes one by one.
const maxBucketEdits = 4096

// dir16Range returns the first bucket entry e covers and how many.
func dir16Range(e FilterEntry) (lo, n uint32) {
	if e.PrefixLen > 16 {
		return Dir16Index(e.Key), 1
	}
	return Dir16Index(e.Key), uint32(1) << (16 - e.PrefixLen)
}

// diffAllBuckets compares every bucket.
func diffAllBuckets(a, b *Filter) []BucketUpdate {
	ob, nb := a.Buckets(), b.Buckets()
	var u []BucketUpdate
	for i := range nb {
		if ob[i] != nb[i] {
			u = append(u, BucketUpdate{Bucket: uint32(i), Value: nb[i]})
		}
	}
	return u
}

// bucketValue is Buckets()[x] computed from the sorted entries alone.
func bucketValue(es []FilterEntry, x uint32) uint32 {
	w := 4
	addr := make([]byte, w)
	binary.BigEndian.PutUint16(addr, uint16(x))
	var v uint32
	for l := 16; l >= 0; l-- {
		if j := findFilterEntry(es, and(addr, ir.PrefixMask(l, w)), l); j >= 0 {
			v = es[j].Bits
			break
		}
	}
	// The entries longer than /16 inside the bucket are contiguous.
	i := sort.Search(len(es), func(i int) bool { return bytes.Compare(es[i].Key, addr) >= 0 })
	var maybe uint32
	for ; i < len(es) && Dir16Index(es[i].Key) == x; i++ {
		if es[i].PrefixLen > 16 {
			maybe |= es[i].Bits
		}
	}
	if maybe == 0 {
		return v
	}
	if bits.OnesCount32(maybe&^v) > dir16MaxMaybe {
		return Dir16Refine
	}
	return v | maybe
}
