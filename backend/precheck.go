package backend

import (
	"fmt"

	"github.com/bpfilter-go/bpfilter/optimizer"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// Field prechecks (optimizer.Precheck): the field's value (its low 16
// bits) indexes an array of table bitmaps, stored on the stack; a table
// whose bit is clear is skipped without a lookup.

func precheckMapName(si, pi int) string { return fmt.Sprintf("bf_p%d_%d", si, pi) }

// PrecheckMapName is the map name of precheck pi of lookup segment si.
func PrecheckMapName(si, pi int) string { return precheckMapName(si, pi) }

// emitPrecheck looks the field's value up in the precheck array and stores
// the table bitmap (0 when the field is absent).
func (g *gen) emitPrecheck(si, pi int, pc *optimizer.Precheck) error {
	b := g.b
	slot := int16(stackPrechecks + 4*pi)
	done := fmt.Sprintf("seg_%d_p_%d_done", si, pi)
	b.emit(asm.StoreImm(asm.R10, slot, 0, asm.Word))
	g.emitGuard(fieldGuard(pc.Field, g.hook), done)
	w := pc.Field.Width()
	if w > 4 {
		return fmt.Errorf("precheck field %s is wider than 32 bits", pc.Field)
	}
	rp, err := g.emitLoadField(pc.Field, asm.R1)
	if err != nil {
		return err
	}
	g.toHost(asm.R1, rp, w)
	if w > 2 {
		b.emit(asm.And.Imm(asm.R1, 0xffff))
	}
	b.emit(
		asm.StoreMem(asm.R10, stackScratch, asm.R1, asm.Word),
	)
	b.emit(mapLookup(precheckMapName(si, pi), stackScratch)...)
	b.emit(
		asm.JEq.Imm(asm.R0, 0, done),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.Word),
		asm.StoreMem(asm.R10, slot, asm.R1, asm.Word),
	)
	b.label(done)
	return nil
}

// PrecheckMapSpec is the array of precheck pi of segment s: slot (the
// value's low 16 bits) to the u32 table bitmap.
func PrecheckMapSpec(name string, s *optimizer.Segment, pi int) *ebpf.MapSpec {
	arr := s.Prechecks[pi].Array(s)
	ms := &ebpf.MapSpec{
		Name:       name,
		Type:       ebpf.Array,
		KeySize:    4,
		ValueSize:  4,
		MaxEntries: uint32(len(arr)),
	}
	for i, v := range arr {
		if v != 0 { // arrays start zeroed
			ms.Contents = append(ms.Contents, ebpf.MapKV{Key: uint32(i), Value: v})
		}
	}
	return ms
}
