package backend

import (
	"github.com/bpfilter-go/bpfilter/optimizer"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// emitDir16 emits the first stage of a Dir16 filter (see
// optimizer.Filter.Buckets): the address's first two bytes (at stack
// offset addr) index the bucket array; a bucket without the refine flag
// is the filter's bitmap, stored in slot, and the map lookup is skipped
// (jump to done). A refine bucket falls through to the map lookup.
func (g *gen) emitDir16(si, fi int, slot, addr int16, done string) {
	b := g.b
	b.emit(
		asm.LoadMem(asm.R1, asm.R10, addr, asm.Byte),
		asm.LSh.Imm(asm.R1, 8),
		asm.LoadMem(asm.R2, asm.R10, addr+1, asm.Byte),
		asm.Or.Reg(asm.R1, asm.R2),
		asm.StoreMem(asm.R10, stackScratch, asm.R1, asm.Word),
	)
	b.emit(mapLookup(dir16MapName(si, fi), stackScratch)...)
	b.emit(
		asm.JEq.Imm(asm.R0, 0, done),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.Word),
		asm.StoreMem(asm.R10, slot, asm.R1, asm.Word),
		asm.RSh.Imm(asm.R1, 31),
		asm.JEq.Imm(asm.R1, 0, done),
		asm.StoreImm(asm.R10, slot, 0, asm.Word),
	)
}

// Dir16MapSpec is the bucket array of a Dir16 filter: u32 index (the
// address's first two bytes) to the u32 bitmap or refine flag.
func Dir16MapSpec(name string, f *optimizer.Filter) *ebpf.MapSpec {
	arr := f.Buckets()
	ms := &ebpf.MapSpec{
		Name:       name,
		Type:       ebpf.Array,
		KeySize:    4,
		ValueSize:  4,
		MaxEntries: optimizer.Dir16Buckets,
	}
	for i, v := range arr {
		if v != 0 { // arrays start zeroed
			ms.Contents = append(ms.Contents, ebpf.MapKV{Key: uint32(i), Value: v})
		}
	}
	return ms
}

// Dir16MapName is the map name of the bucket array of filter fi of lookup
// segment si.
func Dir16MapName(si, fi int) string { return dir16MapName(si, fi) }
