package backend

import (
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// counterValueSize is the size of Counter in the map.
const counterValueSize = 16

func countersMapSpec(nrules int) *ebpf.MapSpec {
	return &ebpf.MapSpec{
		Name:       CountersMap,
		Type:       ebpf.PerCPUArray,
		KeySize:    4,
		ValueSize:  counterValueSize,
		MaxEntries: CounterEntries(nrules),
	}
}

// emitCount adds the packet to counter slot: packets += 1, bytes += the
// packet length. The array lookup is inlined by the kernel.
func (g *gen) emitCount(slot int) {
	g.b.emit(asm.StoreImm(asm.R10, stackScratch, int64(slot), asm.Word))
	g.emitCountStored()
}

// emitCountStored counts the packet in the slot whose index is at
// stackScratch.
func (g *gen) emitCountStored() {
	b := g.b
	skip := b.fresh("count_done")
	b.emit(
		asm.LoadMapPtr(asm.R1, 0).WithReference(CountersMap),
		asm.Mov.Reg(asm.R2, asm.R10),
		asm.Add.Imm(asm.R2, stackScratch),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, skip),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
		asm.LoadMem(asm.R1, asm.R0, 8, asm.DWord),
		asm.Add.Reg(asm.R1, regLen),
		asm.StoreMem(asm.R0, 8, asm.R1, asm.DWord),
	)
	b.label(skip)
}
