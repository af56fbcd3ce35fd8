package engine

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/bpfilter-go/bpfilter/backend"
)

// Counter is a packet and byte count.
type Counter struct {
	Packets uint64
	Bytes   uint64
}

// Counters are a chain's counters, summed over CPUs.
type Counters struct {
	// Rules holds one counter per rule, in rule order.
	Rules []Counter
	// Policy counts packets that reached the chain's policy.
	Policy Counter
	// Errors counts packets whose headers could not be parsed.
	Errors Counter
	// User holds, for each user chain the chain inlines (Options.Ruleset),
	// one counter per rule of that chain, summed over its call sites.
	User map[string][]Counter
}

// Counters reads the chain's counters.
func (c *Chain) Counters() (Counters, error) {
	if c.coll == nil {
		return Counters{}, fmt.Errorf("engine: counters of chain %s: chain is closed", c.IR.Name)
	}
	p := c.Program
	all, err := readCounters(c.coll.Maps[backend.CountersMap], p.CounterSlots())
	if err != nil {
		return Counters{}, fmt.Errorf("engine: counters of chain %s: %w", c.IR.Name, err)
	}
	rules := make([]Counter, p.NumRules)
	for i := range rules {
		rules[i] = all[p.RuleSlot(i)]
	}
	return Counters{
		Rules:  rules,
		Policy: all[p.PolicySlot()],
		Errors: all[p.ErrorSlot()],
		User:   c.userCounters(all),
	}, nil
}

// readCounters reads slots 0..n-1 summed over CPUs, in batches when the
// kernel supports it, one lookup per slot otherwise.
func readCounters(m *ebpf.Map, n uint32) ([]Counter, error) {
	out, err := batchReadCounters(m, n)
	if err == nil {
		return out, nil
	}
	if !errors.Is(err, ebpf.ErrNotSupported) {
		return nil, err
	}
	out = make([]Counter, n)
	for i := uint32(0); i < n; i++ {
		if out[i], err = readCounter(m, i); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func batchReadCounters(m *ebpf.Map, n uint32) ([]Counter, error) {
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		return nil, fmt.Errorf("count CPUs: %w", err)
	}
	keys := make([]uint32, n)
	vals := make([]backend.Counter, int(n)*ncpu)
	var cursor ebpf.MapBatchCursor
	got := 0
	for got < int(n) {
		k, err := m.BatchLookup(&cursor, keys[got:], vals[got*ncpu:], nil)
		got += k
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read counters: %w", err)
		}
		if k == 0 {
			break
		}
	}
	if got != int(n) {
		return nil, fmt.Errorf("read counters: got %d of %d slots", got, n)
	}
	out := make([]Counter, n)
	for i := 0; i < got; i++ {
		if keys[i] >= n {
			return nil, fmt.Errorf("read counters: slot %d out of range", keys[i])
		}
		for c := 0; c < ncpu; c++ {
			v := vals[i*ncpu+c]
			out[keys[i]].Packets += v.Packets
			out[keys[i]].Bytes += v.Bytes
		}
	}
	return out, nil
}

// readCounter sums slot over CPUs.
func readCounter(m *ebpf.Map, slot uint32) (Counter, error) {
	var per []backend.Counter
	if err := m.Lookup(slot, &per); err != nil {
		return Counter{}, fmt.Errorf("read counter %d: %w", slot, err)
	}
	var sum Counter
	for _, v := range per {
		sum.Packets += v.Packets
		sum.Bytes += v.Bytes
	}
	return sum, nil
}

// writeCounter stores per-CPU values in slot.
func writeCounter(m *ebpf.Map, slot uint32, per []backend.Counter) error {
	if err := m.Update(slot, per, ebpf.UpdateExist); err != nil {
		return fmt.Errorf("write counter %d: %w", slot, err)
	}
	return nil
}
