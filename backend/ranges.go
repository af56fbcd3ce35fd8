package backend

import (
	"fmt"

	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/cilium/ebpf/asm"
)

// emitRangesMatch compiles an OpRanges match: the field (at most 4 bytes)
// in host order, compared with each range; the first range that holds
// decides.
func (g *gen) emitRangesMatch(m *ir.Match, next string) error {
	w := m.Field.Width()
	rs := m.Ranges()
	if w > 4 || len(rs) == 0 || len(rs) > ir.MaxRanges {
		return fmt.Errorf("matcher %s: malformed ranges", m.Field)
	}
	rp, err := g.emitLoadField(m.Field, asm.R1)
	if err != nil {
		return err
	}
	g.toHost(asm.R1, rp, w)
	b := g.b
	hit := b.fresh("ranges_hit")
	for _, r := range rs {
		lo, hi := int32(uint32(ir.Uint(r[0]))), int32(uint32(ir.Uint(r[1])))
		if lo == hi {
			b.emit(asm.JEq.Imm32(asm.R1, lo, hit))
			continue
		}
		skip := b.fresh("ranges_next")
		b.emit(asm.JLT.Imm32(asm.R1, lo, skip), asm.JLE.Imm32(asm.R1, hi, hit))
		b.label(skip)
	}
	if m.Negate {
		done := b.fresh("ranges_done")
		b.emit(asm.Ja.Label(done))
		b.label(hit)
		b.emit(asm.Ja.Label(next))
		b.label(done)
		return nil
	}
	b.emit(asm.Ja.Label(next))
	b.label(hit)
	return nil
}
