package optimizer

import (
	"cmp"
	"slices"

	"github.com/bpfilter-go/bpfilter/ir"
)

// Field prechecks (a bit-vector prefilter). Many tables have an exact key
// part on a small field whose values are few: the interface, a port, the
// protocol. A precheck is a direct-indexed array over such a field's
// values (the low 16 bits of the value) holding, for each value, the
// bitmap of the tables having an entry with that value in that part. The
// backend looks it up once (an inlined array lookup) and skips every
// table whose bit is clear: a packet on an interface, or to a port, that
// no entry of a table names costs that table no hash lookup. The bitmap
// is a superset (values equal in their low 16 bits share a slot), so the
// table lookup still decides exactly. Which fields and tables take part
// follows from the table shapes (code); the arrays are data
// (Delta.Prechecks).

// Precheck is one field precheck of a lookup segment.
type Precheck struct {
	Field ir.Field
	// Tables are the indices in Segment.Tables of the tables that take
	// part (bit i of a slot: Tables[i]); each has a full-mask exact part
	// on Field without a Const.
	Tables []int
}

// MaxPrechecks bounds the prechecks of a segment.
const MaxPrechecks = 4

// maxPrecheckTables bounds the tables of one precheck (u32 bitmaps).
const maxPrecheckTables = 32

// PrecheckSlots is the size of the array of a precheck on field f: one
// slot per value of a 1-byte field, 65,536 (the low 16 bits) otherwise.
func PrecheckSlots(f ir.Field) int {
	if f.Width() == 1 {
		return 1 << 8
	}
	return 1 << 16
}

// PrecheckIndex is the array slot of value v (big-endian bytes) of a
// precheck field: its low 16 bits.
func PrecheckIndex(v []byte) uint32 {
	var x uint32
	for _, b := range v {
		x = x<<8 | uint32(b)
	}
	return x & 0xffff
}

// precheckable reports whether f can be prechecked: at most 2 bytes, or
// the interface index.
func precheckable(f ir.Field) bool {
	return f.Valid() && (f.Width() <= 2 || f == ir.MetaIface) && f != ir.MetaProbability && f != ir.MetaFlowProbability
}

// precheckPart returns t's part that takes part in a precheck on f, or nil.
func precheckPart(t *Table, f ir.Field) *KeyPart {
	if t.Kind == TableAlways || t.Inline {
		return nil
	}
	for i := range t.Key {
		kp := &t.Key[i]
		if kp.Field != f || kp.Class >= 0 || kp.Prefix || kp.Const != nil {
			continue
		}
		full := true
		for _, m := range kp.Mask {
			full = full && m == 0xff
		}
		if full {
			return kp
		}
	}
	return nil
}

// buildPrechecks picks the segment's prechecks: the precheckable fields
// with a part in the most tables (ties: field order), at most
// MaxPrechecks, each over at most 32 tables.
func buildPrechecks(s *Segment) {
	count := map[ir.Field][]int{}
	for ti := range s.Tables {
		seen := map[ir.Field]bool{}
		for _, kp := range s.Tables[ti].Key {
			f := kp.Field
			if seen[f] || !precheckable(f) || precheckPart(&s.Tables[ti], f) == nil {
				continue
			}
			seen[f] = true
			if len(count[f]) < maxPrecheckTables {
				count[f] = append(count[f], ti)
			}
		}
	}
	fields := make([]ir.Field, 0, len(count))
	for f := range count {
		fields = append(fields, f)
	}
	slices.SortFunc(fields, func(a, b ir.Field) int {
		if c := cmp.Compare(len(count[b]), len(count[a])); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	if len(fields) > MaxPrechecks {
		fields = fields[:MaxPrechecks]
	}
	slices.Sort(fields)
	s.Prechecks = nil
	for _, f := range fields {
		s.Prechecks = append(s.Prechecks, Precheck{Field: f, Tables: count[f]})
	}
}

// Array returns the precheck's slots for segment s: bit i of slot v is
// set when table Tables[i] has an entry whose value in the field has low
// 16 bits v.
func (pc *Precheck) Array(s *Segment) []uint32 {
	out := make([]uint32, PrecheckSlots(pc.Field))
	for bit, ti := range pc.Tables {
		t := &s.Tables[ti]
		kp := precheckPart(t, pc.Field)
		if kp == nil {
			continue
		}
		for _, e := range t.Entries {
			out[PrecheckIndex(e.Key[kp.Offset:kp.Offset+kp.Width])] |= 1 << bit
		}
	}
	return out
}

// precheckRefs returns, for table ti, the prechecks it takes part in and
// its bit in each.
func (s *Segment) precheckRefs(ti int) (checks, bits []int) {
	for pi := range s.Prechecks {
		if b := slices.Index(s.Prechecks[pi].Tables, ti); b >= 0 {
			checks, bits = append(checks, pi), append(bits, b)
		}
	}
	return checks, bits
}

// PrecheckRefs returns the prechecks table ti of the segment takes part in
// and its bit in each (the backend tests them before the lookup).
func (s *Segment) PrecheckRefs(ti int) (checks, bits []int) { return s.precheckRefs(ti) }

// PrecheckDelta is the slot changes of precheck Check of segment Segment.
type PrecheckDelta struct {
	Segment, Check int
	Updates        []BucketUpdate
}

// precheckStructureChange compares the prechecks' fields and tables (code).
func precheckStructureChange(os, ns *Segment) bool {
	if len(os.Prechecks) != len(ns.Prechecks) {
		return true
	}
	for pi := range ns.Prechecks {
		if os.Prechecks[pi].Field != ns.Prechecks[pi].Field || !slices.Equal(os.Prechecks[pi].Tables, ns.Prechecks[pi].Tables) {
			return true
		}
	}
	return false
}
