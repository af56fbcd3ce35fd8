package engine

import (
	"testing"

	"github.com/cilium/ebpf"

	"github.com/bpfilter-go/bpfilter/backend"
	"github.com/bpfilter-go/bpfilter/internal/testenv"
)

// TestBatchReadCounters checks the batched read against known per-CPU
// values, on a map of 3000 slots, and against single lookups.
func TestBatchReadCounters(t *testing.T) {
	testenv.RequireBPF(t)
	const n = 3000
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 16, MaxEntries: n})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		t.Fatal(err)
	}
	for i := uint32(0); i < n; i += 7 {
		per := make([]backend.Counter, ncpu)
		for c := range per {
			per[c] = backend.Counter{Packets: uint64(i) + uint64(c), Bytes: uint64(i) * 100}
		}
		if err := m.Update(i, per, ebpf.UpdateExist); err != nil {
			t.Fatal(err)
		}
	}
	got, err := batchReadCounters(m, n)
	if err != nil {
		t.Fatal(err)
	}
	for i := uint32(0); i < n; i++ {
		var want Counter
		if i%7 == 0 {
			for c := 0; c < ncpu; c++ {
				want.Packets += uint64(i) + uint64(c)
				want.Bytes += uint64(i) * 100
			}
		}
		if got[i] != want {
			t.Fatalf("slot %d: got %+v, want %+v", i, got[i], want)
		}
		if one, err := readCounter(m, i); err != nil || one != want {
			t.Fatalf("slot %d: single lookup %+v (%v), want %+v", i, one, err, want)
		}
	}
}
