package optimizer

import (
	"encoding/binary"
	"errors"
	"math/rand"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/bpfilter-go/bpfilter/internal/testenv"
	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/bpfilter-go/bpfilter/optimizer/rulegen"
)

// kernelSegment holds real BPF maps filled from one lookup segment.
type kernelSegment struct {
	filters []*ebpf.Map
	classes []*ebpf.Map
	tables  []*ebpf.Map // nil for TableAlways
}

// loadSegment creates the segment's maps in the kernel exactly as the plan
// describes them (type, key and value sizes, capacity) and fills them.
func loadSegment(t *testing.T, s *Segment) *kernelSegment {
	t.Helper()
	ks := &kernelSegment{}
	for ci := range s.Classes {
		cm := &s.Classes[ci]
		m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 2, MaxEntries: uint32(cm.DomainSize())})
		if err != nil {
			t.Fatalf("class array: %v", err)
		}
		t.Cleanup(func() { m.Close() })
		arr := cm.Array()
		keys := make([]uint32, len(arr))
		vals := make([]uint16, len(arr))
		for i, c := range arr {
			keys[i], vals[i] = uint32(i), c
		}
		if _, err := m.BatchUpdate(keys, vals, nil); err != nil {
			t.Fatalf("class array update: %v", err)
		}
		ks.classes = append(ks.classes, m)
	}
	for fi := range s.Filters {
		f := &s.Filters[fi]
		spec := &ebpf.MapSpec{Type: ebpf.Hash, KeySize: uint32(f.MapKeySize()), ValueSize: 4, MaxEntries: uint32(f.Capacity)}
		if f.LPM {
			spec.Type, spec.Flags = ebpf.LPMTrie, 1 // BPF_F_NO_PREALLOC
		}
		m, err := ebpf.NewMap(spec)
		if err != nil {
			t.Fatalf("filter: %v", err)
		}
		t.Cleanup(func() { m.Close() })
		for _, e := range f.Entries {
			if err := m.Put(f.MapKey(e.Key, e.PrefixLen), e.Bits); err != nil {
				t.Fatalf("filter put: %v", err)
			}
		}
		ks.filters = append(ks.filters, m)
	}
	for ti := range s.Tables {
		tb := &s.Tables[ti]
		if tb.Kind == TableAlways {
			ks.tables = append(ks.tables, nil)
			continue
		}
		spec := &ebpf.MapSpec{Type: ebpf.Hash, KeySize: uint32(tb.MapKeySize()), ValueSize: ValueSize, MaxEntries: uint32(tb.Capacity), Flags: tb.MapFlags()}
		if tb.Kind == TableLPM {
			spec.Type = ebpf.LPMTrie
		}
		m, err := ebpf.NewMap(spec)
		if err != nil {
			t.Fatalf("table %d (%s): %v", ti, tb.Kind, err)
		}
		t.Cleanup(func() { m.Close() })
		for _, e := range tb.Entries {
			if err := m.Put(tb.MapKey(e.Key, e.PrefixLen), e.Value.Native()); err != nil {
				t.Fatalf("table %d put % x/%d: %v", ti, e.Key, e.PrefixLen, err)
			}
		}
		ks.tables = append(ks.tables, m)
	}
	return ks
}

// lookup runs the segment's lookups against the kernel maps.
func (ks *kernelSegment) lookup(t *testing.T, s *Segment, pkt *ir.Packet, pp *ir.Parsed) (Value, bool) {
	classes := make([]int, len(s.Classes))
	for ci := range s.Classes {
		classes[ci] = -1
		if v, ok := ir.FieldValue(s.Classes[ci].Field, pkt, pp); ok {
			var c [2]byte
			if err := ks.classes[ci].Lookup(uint32(ir.Uint(v)), c[:]); err != nil {
				t.Fatalf("class lookup: %v", err)
			}
			classes[ci] = int(binary.NativeEndian.Uint16(c[:]))
		}
	}
	fbits := make([]uint32, len(s.Filters))
	for fi := range s.Filters {
		if v, ok := ir.FieldValue(s.Filters[fi].Field, pkt, pp); ok {
			err := ks.filters[fi].Lookup(s.Filters[fi].MapKey(v, 8*len(v)), &fbits[fi])
			if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
				t.Fatalf("filter lookup: %v", err)
			}
		}
	}
	var best Value
	hit := false
	for ti := range s.Tables {
		tb := &s.Tables[ti]
		if tb.Filter >= 0 && fbits[tb.Filter]&(1<<tb.FilterBit) == 0 {
			continue
		}
		var v Value
		if tb.Kind == TableAlways {
			if len(tb.Entries) == 0 {
				continue
			}
			v = tb.Entries[0].Value
		} else {
			key, ok := packetKey(tb, classes, pkt, pp)
			if !ok {
				continue
			}
			var out [ValueSize]byte
			err := ks.tables[ti].Lookup(tb.MapKey(key, 8*tb.KeySize), out[:])
			if errors.Is(err, ebpf.ErrKeyNotExist) {
				continue
			}
			if err != nil {
				t.Fatalf("table %d lookup: %v", ti, err)
			}
			v = Value{Prio: binary.NativeEndian.Uint32(out[:]), ID: binary.NativeEndian.Uint32(out[4:])}
		}
		if !hit || v.Prio < best.Prio {
			best, hit = v, true
		}
	}
	return best, hit
}

// TestKernelMapsAgreeWithPlan loads every lookup table into real kernel
// hash maps, LPM tries and class arrays, and checks that kernel lookups
// give the same first-matching rule as the plan's evaluator: key layout,
// LPM key format, ancestor propagation and capacities hold in the kernel.
func TestKernelMapsAgreeWithPlan(t *testing.T) {
	testenv.RequireBPF(t)
	g := rgen{rng: rand.New(rand.NewSource(3)), plain: true}
	check := func(p *Plan, pkts []*ir.Packet) int {
		ix := p.indexes()
		n := 0
		for si := range p.Segments {
			s := &p.Segments[si]
			if s.Kind != SegLookup {
				continue
			}
			ks := loadSegment(t, s)
			for _, pk := range pkts {
				pp := ir.Parse(pk)
				want, wok := lookupSegment(s, ix[si], pk, &pp, &Cost{})
				got, gok := ks.lookup(t, s, pk, &pp)
				if want != got || wok != gok {
					t.Fatalf("segment %d: kernel lookup %+v/%v, plan %+v/%v\n%s", si, got, gok, want, wok, p.Strategy())
				}
				if gok {
					n++
				}
			}
		}
		return n
	}
	hits := 0
	for iter := 0; iter < 25; iter++ {
		_, c := g.chain(10 + g.n(60))
		p := build(t, c, Options{InlineMax: -1})
		pkts := make([]*ir.Packet, 60)
		for i := range pkts {
			pkts[i] = g.packet()
		}
		hits += check(p, pkts)
	}
	mix := gen(t, rulegen.Config{Kind: rulegen.Mix, Rules: 10000, Seed: 4, Place: rulegen.Last})
	p := build(t, mix, Options{})
	pkts := []*ir.Packet{rulegen.DefaultProbe().Packet(true)}
	for i := 0; i < 100; i++ {
		pkts = append(pkts, g.packet())
	}
	if n := check(p, pkts[:1]); n != 1 {
		t.Fatal("the probe does not hit the mix's tables in the kernel")
	}
	hits += check(p, pkts)
	if hits < 100 {
		t.Fatalf("only %d kernel lookup hits: the test does not exercise the maps", hits)
	}
	t.Logf("%d kernel lookup hits agree with the plan", hits)
}
