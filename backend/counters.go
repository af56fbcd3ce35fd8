package backend

import (
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
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
// packet length, by calling the global function bf_count. The verifier
// checks a global function once, not at every call, which keeps the
// verification of chains with many CONTINUE rules linear.
func (g *gen) emitCount(slot int) {
	g.b.emit(
		asm.Mov.Imm32(asm.R1, int32(slot)),
		asm.Mov.Reg(asm.R2, regLen),
		asm.Call.Label(countFuncName),
	)
}

// countFuncName is the global function that updates one counter slot.
const countFuncName = "bf_count"

// Types of the BTF function info: bf_prog(void *ctx) and
// bf_count(u32 slot, u32 len), both returning int.
var (
	btfInt  = &btf.Int{Name: "int", Size: 4, Encoding: btf.Signed}
	btfU32  = &btf.Int{Name: "unsigned int", Size: 4}
	btfMain = &btf.Func{Name: ProgramName, Linkage: btf.GlobalFunc, Type: &btf.FuncProto{
		Return: btfInt, Params: []btf.FuncParam{{Name: "ctx", Type: &btf.Pointer{Target: &btf.Void{}}}},
	}}
	btfCount = &btf.Func{Name: countFuncName, Linkage: btf.GlobalFunc, Type: &btf.FuncProto{
		Return: btfInt, Params: []btf.FuncParam{{Name: "slot", Type: btfU32}, {Name: "len", Type: btfU32}},
	}}
)

// emitCountFunc emits bf_count(slot, len) after the main program.
func (g *gen) emitCountFunc() {
	b := g.b
	b.label(countFuncName)
	b.comment("bf_count(slot, len): counters[slot] += {1, len}")
	b.emit(
		btf.WithFuncMetadata(asm.StoreMem(asm.R10, -4, asm.R1, asm.Word), btfCount),
		asm.Mov.Reg(asm.R6, asm.R2),
	)
	b.emit(mapLookup(CountersMap, -4)...)
	g.verboseCall("bpf_map_lookup_elem ("+CountersMap+")", failNull)
	b.emit(
		asm.JEq.Imm(asm.R0, 0, "bf_count_out"),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
		asm.LoadMem(asm.R1, asm.R0, 8, asm.DWord),
		asm.Add.Reg(asm.R1, asm.R6),
		asm.StoreMem(asm.R0, 8, asm.R1, asm.DWord),
	)
	b.label("bf_count_out")
	b.emit(asm.Mov.Imm(asm.R0, 0), asm.Return())
}

// emitCountStored counts the packet in the slot whose index is at
// stackScratch.
func (g *gen) emitCountStored() {
	b := g.b
	skip := b.fresh("count_done")
	b.emit(mapLookup(CountersMap, stackScratch)...)
	g.verboseCall("bpf_map_lookup_elem ("+CountersMap+")", failNull)
	b.emit(
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
