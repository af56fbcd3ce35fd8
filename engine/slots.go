package engine

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/cilium/ebpf"

	"github.com/bpfilter-go/bpfilter/backend"
)

// Slots are where a loaded program keeps its counters in the counter map:
// one slot per rule (in rule order), the policy's and the parse errors'.
// A fresh compile numbers rules by index; after an Update that inserted or
// deleted rules they differ, and Restore cannot know them (ErrUpdated): a
// caller that recorded them can still read the pinned counters
// (PinnedCounters) before loading the chain again.
type Slots struct {
	Rules  []uint32 `json:"rules"`
	Policy uint32   `json:"policy"`
	Errors uint32   `json:"errors"`
}

// Slots returns the counter slots of the loaded program.
func (c *Chain) Slots() Slots {
	p := c.Program
	s := Slots{Rules: make([]uint32, p.NumRules), Policy: p.PolicySlot(), Errors: p.ErrorSlot()}
	for i := range s.Rules {
		s.Rules[i] = p.RuleSlot(i)
	}
	return s
}

// PinnedCounters reads the counters at slots from the counter map pinned in
// dir (relative directories are below opts.BPFFS), without opening the
// rest of the chain.
func PinnedCounters(dir string, slots Slots, opts Options) (Counters, error) {
	path, err := opts.pinPath(dir)
	if err != nil {
		return Counters{}, fmt.Errorf("engine: pinned counters: %w", err)
	}
	m, err := ebpf.LoadPinnedMap(filepath.Join(path, backend.CountersMap), nil)
	if err != nil {
		return Counters{}, fmt.Errorf("engine: pinned counters in %s: %w", path, err)
	}
	defer m.Close()
	read := func(slot uint32) (Counter, error) {
		if slot >= m.MaxEntries() {
			return Counter{}, fmt.Errorf("counter slot %d is outside the pinned map (%d slots)", slot, m.MaxEntries())
		}
		return readCounter(m, slot)
	}
	out := Counters{Rules: make([]Counter, len(slots.Rules))}
	var errs []error
	for i, s := range slots.Rules {
		c, err := read(s)
		errs = append(errs, err)
		out.Rules[i] = c
	}
	var e1, e2 error
	out.Policy, e1 = read(slots.Policy)
	out.Errors, e2 = read(slots.Errors)
	if err := errors.Join(append(errs, e1, e2)...); err != nil {
		return Counters{}, fmt.Errorf("engine: pinned counters in %s: %w", path, err)
	}
	return out, nil
}
