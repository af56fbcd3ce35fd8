package engine

import (
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
}

// Counters reads the chain's counters.
func (c *Chain) Counters() (Counters, error) {
	if c.coll == nil {
		return Counters{}, fmt.Errorf("engine: counters of chain %s: chain is closed", c.IR.Name)
	}
	m := c.coll.Maps[backend.CountersMap]
	n := c.Program.NumRules
	out := Counters{Rules: make([]Counter, n)}
	for i := 0; i < n; i++ {
		v, err := readCounter(m, backend.CounterIndexRule(i))
		if err != nil {
			return Counters{}, fmt.Errorf("engine: counters of chain %s: %w", c.IR.Name, err)
		}
		out.Rules[i] = v
	}
	var err error
	if out.Policy, err = readCounter(m, backend.CounterIndexPolicy(n)); err != nil {
		return Counters{}, fmt.Errorf("engine: counters of chain %s: %w", c.IR.Name, err)
	}
	if out.Errors, err = readCounter(m, backend.CounterIndexErrors(n)); err != nil {
		return Counters{}, fmt.Errorf("engine: counters of chain %s: %w", c.IR.Name, err)
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
