package daemon

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/bpfilter-go/bpfilter/daemon/proto"
	"github.com/bpfilter-go/bpfilter/engine"
	"github.com/bpfilter-go/bpfilter/ir"
)

// journalRecord is one journal record (journal.go): the header (Epoch), or
// one change of the saved context.
type journalRecord struct {
	Seq uint64 `json:"seq"`
	// Epoch is set in the header only.
	Epoch uint64 `json:"epoch,omitempty"`
	// Plan writes an update ahead: it becomes the context's pending plan.
	Plan *planRecord `json:"plan,omitempty"`
	// Commit installs the pending plan's chains.
	Commit *commitRecord `json:"commit,omitempty"`
}

func (r *journalRecord) isHeader() bool { return r.Epoch != 0 && r.Plan == nil && r.Commit == nil }

func (r *journalRecord) kinds() int {
	n := 0
	if r.Plan != nil {
		n++
	}
	if r.Commit != nil {
		n++
	}
	return n
}

// planRecord is a plan written ahead.
type planRecord struct {
	Front   string `json:"front"`
	NextGen uint64 `json:"next_gen"`
	// Add are the plan's chains, each whole or as a patch of the
	// committed chain of its name.
	Add    []journalEntry `json:"add"`
	Remove []string       `json:"remove,omitempty"`
	// Iptables, when set, are the tables the plan installs.
	Iptables iptTables `json:"iptables,omitempty"`
	// InPlace is set for an in-place update: the counter slots recorded
	// on the committed chain it writes into.
	InPlace *inPlaceSlots `json:"in_place,omitempty"`
}

// inPlaceSlots records the counter slots of the chain an in-place update
// writes into.
type inPlaceSlots struct {
	Name  string    `json:"name"`
	Slots *slotsRec `json:"slots"`
}

// journalEntry is a plan chain: the whole entry, or a patch.
type journalEntry struct {
	Entry *entry      `json:"entry,omitempty"`
	Patch *entryPatch `json:"patch,omitempty"`
}

// entryPatch is an entry built from the committed entry of the same name
// (its attachment, front and hook options) and a chain delta.
type entryPatch struct {
	Name    string         `json:"name"`
	Delta   chainDelta     `json:"delta"`
	Gen     uint64         `json:"gen"`
	Pin     string         `json:"pin,omitempty"`
	Offsets sparseCounters `json:"counter_offsets"`
}

// chainDelta is what a per-rule or set-element update changed in a chain
// (rules.go, ChainUpdateSet). base is the chain it applies to (live only:
// a delta is only written for the committed chain it was made from).
type chainDelta struct {
	// BaseRules is the rule count of the chain it applies to (checked).
	BaseRules int        `json:"base_rules"`
	Rules     []ruleEdit `json:"rules,omitempty"`
	Set       *setDelta  `json:"set,omitempty"`

	base *ir.Chain
}

// setDelta adds and removes elements of a named set (as update-set does:
// removals first, each must exist; additions of present elements are
// no-ops).
type setDelta struct {
	Name   string       `json:"name"`
	Add    []ir.SetElem `json:"add,omitempty"`
	Remove []ir.SetElem `json:"remove,omitempty"`
}

// commitRecord ends the pending plan: its chains are installed, with the
// fields a swap or an in-place write set after the plan was written.
type commitRecord struct {
	Post []postFields `json:"post"`
}

// postFields are, per plan chain (in order), its final pin, offsets and
// counter slots.
type postFields struct {
	Gen     uint64         `json:"gen"`
	Pin     string         `json:"pin,omitempty"`
	Offsets sparseCounters `json:"counter_offsets"`
	Slots   *slotsRec      `json:"counter_slots,omitempty"`
}

// sparseCounters are counters with only the non-zero rule counters
// listed ([index, packets, bytes]).
type sparseCounters struct {
	N      int                        `json:"n,omitempty"`
	Rules  [][3]uint64                `json:"rules,omitempty"`
	Policy proto.Counter              `json:"policy"`
	Errors proto.Counter              `json:"errors"`
	User   map[string][]proto.Counter `json:"user,omitempty"`
}

func sparse(c proto.Counters) sparseCounters {
	s := sparseCounters{N: len(c.Rules), Policy: c.Policy, Errors: c.Errors, User: c.User}
	if c.Rules == nil {
		s.N = -1
	}
	for i, r := range c.Rules {
		if r != (proto.Counter{}) {
			s.Rules = append(s.Rules, [3]uint64{uint64(i), r.Packets, r.Bytes})
		}
	}
	return s
}

func (s sparseCounters) dense() (proto.Counters, error) {
	c := proto.Counters{Policy: s.Policy, Errors: s.Errors, User: s.User}
	if s.N < -1 || s.N > 1<<24 {
		return c, fmt.Errorf("counter offsets: bad rule count %d", s.N)
	}
	if s.N >= 0 {
		c.Rules = make([]proto.Counter, s.N)
	}
	for _, r := range s.Rules {
		if r[0] >= uint64(len(c.Rules)) {
			return c, fmt.Errorf("counter offsets: rule %d out of range (%d rules)", r[0], len(c.Rules))
		}
		c.Rules[r[0]] = proto.Counter{Packets: r[1], Bytes: r[2]}
	}
	return c, nil
}

// slotsRec is engine.Slots with the rule slots packed (little-endian
// uint32s, base64 in JSON), or, with Rel, given relative to the slots of
// the committed entry a patch applies to: rule j has the slot of the base
// rule it carries (carry[j]) unless Diff lists it ([j, slot]); N is the
// rule count. After an in-place update only new rules get new slots, so a
// relative record stays small however big the chain.
type slotsRec struct {
	Rules  []byte      `json:"rules,omitempty"`
	Rel    bool        `json:"rel,omitempty"`
	N      int         `json:"n,omitempty"`
	Diff   [][2]uint32 `json:"diff,omitempty"`
	Policy uint32      `json:"policy"`
	Errors uint32      `json:"errors"`
}

func packSlots(s *engine.Slots) *slotsRec {
	if s == nil {
		return nil
	}
	b := make([]byte, 4*len(s.Rules))
	for i, v := range s.Rules {
		binary.LittleEndian.PutUint32(b[4*i:], v)
	}
	return &slotsRec{Rules: b, Policy: s.Policy, Errors: s.Errors}
}

// relSlots is packSlots relative to base and carry (packed in full when
// they do not fit).
func relSlots(s, base *engine.Slots, carry []int) *slotsRec {
	if s == nil || base == nil || len(carry) != len(s.Rules) {
		return packSlots(s)
	}
	r := &slotsRec{Rel: true, N: len(s.Rules), Policy: s.Policy, Errors: s.Errors}
	for j, v := range s.Rules {
		if i := carry[j]; i >= 0 && i < len(base.Rules) && base.Rules[i] == v {
			continue
		}
		r.Diff = append(r.Diff, [2]uint32{uint32(j), v})
	}
	return r
}

func sameSlots(a, b *engine.Slots) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a.Policy != b.Policy || a.Errors != b.Errors || len(a.Rules) != len(b.Rules) {
		return false
	}
	for i := range a.Rules {
		if a.Rules[i] != b.Rules[i] {
			return false
		}
	}
	return true
}

// unpack returns the slots; base and carry resolve a relative record.
func (r *slotsRec) unpack(base *engine.Slots, carry []int) (*engine.Slots, error) {
	if r == nil {
		return nil, nil
	}
	if !r.Rel {
		if len(r.Rules)%4 != 0 {
			return nil, fmt.Errorf("counter slots: %d bytes is not a whole number of slots", len(r.Rules))
		}
		s := &engine.Slots{Rules: make([]uint32, len(r.Rules)/4), Policy: r.Policy, Errors: r.Errors}
		for i := range s.Rules {
			s.Rules[i] = binary.LittleEndian.Uint32(r.Rules[4*i:])
		}
		return s, nil
	}
	if base == nil || carry == nil || len(r.Rules) != 0 {
		return nil, errors.New("counter slots: relative slots without a base")
	}
	if r.N != len(carry) {
		return nil, fmt.Errorf("counter slots: %d slots for %d rules", r.N, len(carry))
	}
	s := &engine.Slots{Rules: make([]uint32, r.N), Policy: r.Policy, Errors: r.Errors}
	set := make([]bool, r.N)
	for _, d := range r.Diff {
		if int(d[0]) >= r.N {
			return nil, fmt.Errorf("counter slots: rule %d out of range (%d rules)", d[0], r.N)
		}
		s.Rules[d[0]], set[d[0]] = d[1], true
	}
	for j, i := range carry {
		if set[j] {
			continue
		}
		if i < 0 || i >= len(base.Rules) {
			return nil, fmt.Errorf("counter slots: no slot for rule %d", j)
		}
		s.Rules[j] = base.Rules[i]
	}
	return s, nil
}

func encodeRecord(r *journalRecord) ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encoding a journal record: %w", err)
	}
	return b, nil
}

func decodeRecord(b []byte) (*journalRecord, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var r journalRecord
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("malformed record: %w", err)
	}
	if dec.More() {
		return nil, errors.New("malformed record: trailing data")
	}
	return &r, nil
}

// postOf returns e's post fields; base are the slots of the committed
// entry e patches (nil: e was recorded whole), relative to which e's
// slots are written.
func postOf(e *entry, base *engine.Slots) postFields {
	sl := packSlots(e.Slots)
	if base != nil {
		sl = relSlots(e.Slots, base, e.carry)
	}
	return postFields{Gen: e.Gen, Pin: e.Pin, Offsets: sparse(e.Offsets), Slots: sl}
}

// applyDelta builds the chain of d applied to base (base is not changed;
// unedited rules and sets are shared).
func applyDelta(base *ir.Chain, d *chainDelta) (*ir.Chain, error) {
	if d.BaseRules != len(base.Rules) {
		return nil, fmt.Errorf("the delta is for a chain of %d rules, chain %s has %d", d.BaseRules, base.Name, len(base.Rules))
	}
	c := base
	if len(d.Rules) > 0 {
		for i, e := range d.Rules {
			for k, r := range e.Rules {
				if r == nil {
					return nil, fmt.Errorf("edit %d: rule %d is null", i, k)
				}
			}
		}
		rules, _, err := applyRuleEdits(base.Rules, d.Rules)
		if err != nil {
			return nil, err
		}
		c = nextChain(base, rules)
	}
	if d.Set != nil {
		n, err := withSetDelta(c, d.Set)
		if err != nil {
			return nil, err
		}
		c = n
	}
	return c, nil
}

// withSetDelta returns c with the named set edited by d (the set is
// copied; the rest is shared).
func withSetDelta(c *ir.Chain, d *setDelta) (*ir.Chain, error) {
	n := *c
	n.Sets = append([]*ir.Set(nil), c.Sets...)
	for i, st := range n.Sets {
		if st.Name != d.Name || st.Anonymous {
			continue
		}
		x := *st
		x.Elems = append([]ir.SetElem(nil), st.Elems...)
		for _, el := range d.Remove {
			found := false
			for k, have := range x.Elems {
				if sameElem(have, el) {
					x.Elems = append(x.Elems[:k], x.Elems[k+1:]...)
					found = true
					break
				}
			}
			if !found {
				return nil, errorf(proto.ENOENT, "set %s has no element %s", d.Name, formatElem(&x, el))
			}
		}
		for _, el := range d.Add {
			dup := false
			for _, have := range x.Elems {
				if sameElem(have, el) {
					dup = true
					break
				}
			}
			if !dup {
				x.Elems = append(x.Elems, el)
			}
		}
		n.Sets[i] = &x
		return &n, nil
	}
	return nil, errorf(proto.ENOENT, "chain %s has no named set %q", c.Name, d.Name)
}

// formatElem prints an element's key components for messages.
func formatElem(st *ir.Set, el ir.SetElem) string {
	out, off := "", 0
	for i, f := range st.Key {
		w := f.Width()
		if off+w > len(el.Key) {
			break
		}
		if i > 0 {
			out += ", "
		}
		out += f.Info().Kind.Format(el.Key[off:off+w], nil)
		off += w
	}
	return fmt.Sprintf("%q", out)
}
