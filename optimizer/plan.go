package optimizer

import (
	"encoding/binary"
	"fmt"

	"github.com/bpfilter-go/bpfilter/ir"
)

// Plan is the optimised form of one chain, as data the code generator
// consumes directly: segments evaluated in order, each either linear rules
// or a set of lookup tables. Use it through its pointer (it must not be
// copied); it is safe for concurrent reads and Evals.
type Plan struct {
	// Chain is the chain the plan was built from (not copied: callers must
	// not modify it while the plan is in use).
	Chain *ir.Chain
	// Segments cover the chain's rules in order, without gaps.
	Segments []Segment
	// Rules has one entry per rule of Chain, by rule index.
	Rules []RuleInfo
	// IDCap is the number of rule counter slots: every rule ID is below
	// it. The counter map holds IDCap rule slots, then the policy slot
	// (IDCap) and the parse-error slot (IDCap+1). A plan built without
	// Options.Previous has IDCap == len(Rules) and ID == rule index, which
	// is the backend's counter contract.
	IDCap uint32
	// Stats summarises the strategy picked (tests, --verbose).
	Stats Stats

	// fingerprints identify rules across builds (see fingerprint).
	fingerprints []string
	// classified and classWhy are classify's result per rule, before the
	// range replication budget (reused by incremental builds).
	classified []*shapeRule
	classWhy   []string
	// byID maps a rule ID to its rule index (-1: no rule has the ID);
	// IDs are below IDCap.
	byID []int
	// opts are the options the plan was built with (Previous cleared).
	opts Options
	// eval is the Go form of the tables, for Eval.
	eval evalIndex
	// xtl4: the chain has xt.l4 constructs; a packet with
	// ir.XTL4SlowPath runs the whole chain rule by rule (HasSlowPath).
	xtl4 bool
}

// HasSlowPath reports whether the chain carries xt.l4 constructs (iptables
// xt matches, ir/xtl4.go): a packet with ir.XTL4SlowPath is then
// evaluated rule by rule, every rule, with the constructs exact, and never
// reaches a lookup; the lookups were planned from the constructs' fast
// form (ir.XTL4FastRule). The backend compiles that as a second body.
func (p *Plan) HasSlowPath() bool { return p.xtl4 }

// RuleInfo is what the plan knows about one rule.
type RuleInfo struct {
	// ID is the rule's stable identity: its counter slot and the index of
	// its action in the dispatch. It survives rebuilds while the rule is
	// unchanged (Options.Previous).
	ID uint32
	// Prio orders the rules of the chain: a lower value is an earlier
	// rule. Lookup entries carry it so the smallest hit is the first
	// matching rule.
	Prio uint32
	// Segment is the index of the segment holding the rule.
	Segment int
	// Classified is true when the rule lives in lookup tables.
	Classified bool
	// Why tells, for a linear rule, why it was not classified.
	Why string
}

// SegmentKind tells how a segment is evaluated.
type SegmentKind uint8

// Segment kinds.
const (
	// SegLinear: rules are compiled one after the other.
	SegLinear SegmentKind = iota
	// SegLookup: one lookup per table, the smallest priority hit decides.
	SegLookup
)

// String returns "linear" or "lookup".
func (k SegmentKind) String() string {
	if k == SegLookup {
		return "lookup"
	}
	return "linear"
}

// Segment is a run of consecutive rules [First, End).
type Segment struct {
	Kind  SegmentKind
	First int
	End   int
	// Classes are the range fields of a lookup segment: each maps a
	// field value to a class id used as a key part (KeyPart.Class).
	Classes []ClassMap
	// Tables are the lookup tables, sorted by shape.
	Tables []Table
	// Filters are address prefilters over several tables (see Filter).
	Filters []Filter
	// Prechecks are field prefilters over several tables (see Precheck).
	Prechecks []Precheck
}

// Filter is a prefilter on an address field shared by several map tables
// of a segment: a map from the address (or prefix) to a bitmap of the
// tables that have an entry containing it (bit i: Tables[i]). The backend
// looks it up first and skips the tables whose bit is clear, so a packet
// whose address is in no rule costs one lookup instead of one per table.
// It is a hash map when every entry is a full address, else an LPM trie
// (BPF_F_NO_PREALLOC) whose entries carry their ancestors' bits.
type Filter struct {
	Field ir.Field
	LPM   bool
	// Tables are indices in Segment.Tables; each table has a full-width
	// exact part on Field (Table.Filter points back here).
	Tables []int
	// Entries map the address (Field.Width() bytes) to the bitmap, sorted
	// by key.
	Entries  []FilterEntry
	Capacity int
	// Dir16 adds a first stage to an IPv4 filter: an array of one bucket
	// per /16 (see Buckets), looked up before the map; only buckets with
	// entries longer than /16 need the map lookup.
	Dir16 bool
}

// FilterEntry is one address or prefix of a filter and its table bitmap.
type FilterEntry struct {
	Key       []byte
	PrefixLen int
	Bits      uint32
	// raw is the bitmap of the tables holding this very prefix (Bits
	// without the ancestors'), for incremental builds.
	raw uint32
}

// MaxFilterTables bounds the tables of one filter (the bitmap is a u32).
const MaxFilterTables = 32

// TableKind is the map type of a lookup table.
type TableKind uint8

// Table kinds.
const (
	// TableHash is a BPF_MAP_TYPE_HASH keyed by the concatenated masked
	// key parts.
	TableHash TableKind = iota
	// TableLPM is a BPF_MAP_TYPE_LPM_TRIE: the key is a u32 prefix length
	// (host order, KeySize*8 at lookup) followed by the key parts; the
	// last part is the variable-length prefix.
	TableLPM
	// TableAlways has no key: its single entry matches every packet (rules
	// without matches). No lookup is needed.
	TableAlways
)

var tableKindNames = [...]string{TableHash: "hash", TableLPM: "lpm", TableAlways: "always"}

// String returns the kind's name.
func (k TableKind) String() string {
	if int(k) < len(tableKindNames) {
		return tableKindNames[k]
	}
	return fmt.Sprintf("table(%d)", uint8(k))
}

// Table is one shape of a lookup segment.
type Table struct {
	Kind TableKind
	// Key is the key layout; parts are contiguous from offset 0.
	Key     []KeyPart
	KeySize int
	// Entries are sorted by key then prefix length; at most one per
	// (key, prefix length).
	Entries []Entry
	// Capacity is the map's max_entries (>= len(Entries)), with headroom
	// for incremental updates.
	Capacity int
	// Inline asks the backend to compile the entries as compares rather
	// than a map (small tables; their entries are then code).
	Inline bool
	// Filter is the index of the segment's filter that guards this table
	// (-1: none); FilterBit its bit in the filter's bitmaps.
	Filter    int
	FilterBit int
	// Shape identifies the table's shape (an opaque binary string of the
	// components' kinds, fields and masks, stable across builds).
	Shape string

	// nrules is the number of rules of the shape (dead ones included).
	nrules int
	// dups lists, for the entries (entryID) several rules give, every
	// contributing value sorted by priority (shared between plans: never
	// modified once built).
	dups map[string][]Value
}

// KeyPart is one component of a table key.
type KeyPart struct {
	// Field is read from the packet (ir.FieldValue semantics: a missing
	// field means the table cannot match).
	Field ir.Field
	// Offset and Width locate the part in the key.
	Offset int
	Width  int
	// Mask is ANDed with the field value (nil: no mask). Unused for
	// class and prefix parts.
	Mask []byte
	// Class >= 0: the part is the 2-byte big-endian class id of the field
	// value in Segment.Classes[Class]; -1 otherwise.
	Class int
	// Prefix marks the variable-length part of an LPM key (always last).
	Prefix bool
	// Const, when set, is the value every entry has in this part: a packet
	// whose (masked) value differs cannot hit the table, so the backend
	// can skip the lookup with one compare (e.g. a table of TCP-only
	// rules for a UDP packet). Changing it needs a rebuild.
	Const []byte
}

// Entry is one map entry: Key bytes to Value. PrefixLen is the number of
// leading key bits that must match (KeySize*8 for hash tables).
type Entry struct {
	Key       []byte
	PrefixLen int
	Value     Value
	// raw is, in an LPM table, the value of this very prefix before its
	// ancestors' were propagated into Value (incremental builds).
	raw Value
}

// ValueSize is the byte size of an encoded Value.
const ValueSize = 8

// Value is what a lookup returns: the priority of the first rule the key
// selects and that rule's ID.
type Value struct {
	Prio uint32
	ID   uint32
}

// Native encodes the value as the BPF map value: {u32 prio; u32 id} in host
// byte order.
func (v Value) Native() []byte {
	b := make([]byte, ValueSize)
	binary.NativeEndian.PutUint32(b, v.Prio)
	binary.NativeEndian.PutUint32(b[4:], v.ID)
	return b
}

// ClassWidth is the byte width of a class id in a key.
const ClassWidth = 2

// ClassMap splits the value domain of a range field (at most 16 bits wide)
// into elementary intervals: class i is [Starts[i], Starts[i+1]-1] (the last
// class ends at the domain's maximum). Every range of the segment is a union
// of whole classes.
type ClassMap struct {
	Field  ir.Field
	Starts []uint32
}

// Class returns the class id of value v.
func (m *ClassMap) Class(v uint32) uint16 {
	lo, hi := 0, len(m.Starts)
	for lo < hi {
		mid := (lo + hi) / 2
		if m.Starts[mid] <= v {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return uint16(lo - 1)
}

// DomainSize is the number of values of the field (the array map size).
func (m *ClassMap) DomainSize() int { return 1 << (8 * m.Field.Width()) }

// Array returns the class of every value of the domain, the contents of the
// BPF_MAP_TYPE_ARRAY the backend looks the field value up in.
func (m *ClassMap) Array() []uint16 {
	out := make([]uint16, m.DomainSize())
	c := 0
	for v := range out {
		for c+1 < len(m.Starts) && uint32(v) >= m.Starts[c+1] {
			c++
		}
		out[v] = uint16(c)
	}
	return out
}

// RuleByID returns the index of the rule with the given ID.
func (p *Plan) RuleByID(id uint32) (int, bool) {
	if uint64(id) >= uint64(len(p.byID)) || p.byID[id] < 0 {
		return 0, false
	}
	return p.byID[id], true
}

// MapKeySize is the key size of the table's BPF map: KeySize, plus the
// 4-byte prefix length header of an LPM trie.
func (t *Table) MapKeySize() int {
	if t.Kind == TableLPM {
		return 4 + t.KeySize
	}
	return t.KeySize
}

// MapFlags are the BPF map creation flags the table needs
// (BPF_F_NO_PREALLOC for LPM tries).
func (t *Table) MapFlags() uint32 {
	if t.Kind == TableLPM {
		return 1 // BPF_F_NO_PREALLOC
	}
	return 0
}

// MapKey encodes a key as the table's BPF map expects it: the key itself
// for hash maps; for LPM tries a host-order u32 prefix length (PrefixLen of
// an entry, KeySize*8 for a lookup) followed by the key.
func (t *Table) MapKey(key []byte, prefixLen int) []byte {
	if t.Kind != TableLPM {
		return append([]byte(nil), key...)
	}
	k := binary.NativeEndian.AppendUint32(make([]byte, 0, 4+len(key)), uint32(prefixLen))
	return append(k, key...)
}

// CounterSlot is the counter map index of rule i (its ID).
func (p *Plan) CounterSlot(i int) uint32 { return p.Rules[i].ID }

// PolicySlot is the counter map index of the chain policy.
func (p *Plan) PolicySlot() uint32 { return p.IDCap }

// ErrorSlot is the counter map index of parse errors.
func (p *Plan) ErrorSlot() uint32 { return p.IDCap + 1 }

// CounterEntries is the size of the counter map.
func (p *Plan) CounterEntries() uint32 { return p.IDCap + 2 }
