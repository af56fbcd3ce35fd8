package bpf_test

import (
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/bpfilter-go/bpfilter/bpf"
	"github.com/bpfilter-go/bpfilter/internal/testenv"
	"github.com/bpfilter-go/bpfilter/ir"
)

// hookProg describes the test program type of a hook.
type hookProg struct {
	typ    ebpf.ProgramType
	attach ebpf.AttachType
	ret    int32 // "let the packet/operation go on"
}

func progFor(t *testing.T, h ir.Hook) hookProg {
	t.Helper()
	switch h.Flavour() {
	case ir.FlavourXDP:
		return hookProg{ebpf.XDP, ebpf.AttachNone, 2} // XDP_PASS
	case ir.FlavourTC:
		return hookProg{ebpf.SchedCLS, ebpf.AttachNone, 0} // TCX_PASS
	case ir.FlavourNF:
		return hookProg{ebpf.Netfilter, ebpf.AttachNetfilter, 1} // NF_ACCEPT
	case ir.FlavourCgroupSkb:
		return hookProg{ebpf.CGroupSKB, ebpf.AttachNone, 1}
	case ir.FlavourCgroupSockAddr:
		at, err := bpf.CgroupAttachType(h)
		if err != nil {
			t.Fatal(err)
		}
		return hookProg{ebpf.CGroupSockAddr, at, 1}
	}
	t.Fatalf("no test program for %s", h)
	return hookProg{}
}

// countingSpec returns a collection with an array map "counts" of two
// u64 slots and two programs of h's type, "v1" and "v2", that add one to
// slot 0 and slot 1 respectively and let everything through.
func countingSpec(t *testing.T, h ir.Hook) *ebpf.CollectionSpec {
	hp := progFor(t, h)
	prog := func(slot int32) *ebpf.ProgramSpec {
		return &ebpf.ProgramSpec{
			Type:       hp.typ,
			AttachType: hp.attach,
			License:    "GPL",
			Instructions: asm.Instructions{
				asm.StoreImm(asm.R10, -4, int64(slot), asm.Word),
				asm.Mov.Reg(asm.R2, asm.R10),
				asm.Add.Imm(asm.R2, -4),
				asm.LoadMapPtr(asm.R1, 0).WithReference("counts"),
				asm.FnMapLookupElem.Call(),
				asm.JEq.Imm(asm.R0, 0, "out"),
				asm.Mov.Imm(asm.R1, 1),
				asm.StoreXAdd(asm.R0, asm.R1, asm.DWord),
				asm.Mov.Imm(asm.R0, hp.ret).WithSymbol("out"),
				asm.Return(),
			},
		}
	}
	return &ebpf.CollectionSpec{
		Maps: map[string]*ebpf.MapSpec{
			"counts": {Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 2},
		},
		Programs: map[string]*ebpf.ProgramSpec{"v1": prog(0), "v2": prog(1)},
	}
}

func loadCounting(t *testing.T, h ir.Hook) *ebpf.Collection {
	t.Helper()
	testenv.RequireBPF(t)
	testenv.RequireFeature(t, h.String(), bpf.HaveHook(h), ebpf.ErrNotSupported)
	coll, err := bpf.Load(countingSpec(t, h), bpf.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(coll.Close)
	return coll
}

// counts reads both slots of the "counts" map.
func counts(t *testing.T, coll *ebpf.Collection) [2]uint64 {
	t.Helper()
	var out [2]uint64
	for i := range out {
		if err := coll.Maps["counts"].Lookup(uint32(i), &out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}
