package backend

import (
	"encoding/binary"
	"fmt"

	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/cilium/ebpf/asm"
)

// emitEitherPortMatch compiles tcp.port/udp.port: the match on the source
// port or on the destination port holds; negation negates both.
func (g *gen) emitEitherPortMatch(m *ir.Match, next string) error {
	src, dst, _ := ir.EitherPort(m.Field)
	if m.Op != ir.OpEq && m.Op != ir.OpRange && m.Op != ir.OpRanges {
		return fmt.Errorf("matcher %s: unsupported operator %s", m.Field, m.Op)
	}
	s, d := *m, *m
	s.Field, d.Field, s.Negate, d.Negate = src, dst, false, false
	b := g.b
	tryDst, done := b.fresh("port_dst"), b.fresh("port_done")
	if err := g.emitMatch(&s, tryDst); err != nil {
		return err
	}
	if m.Negate {
		b.emit(asm.Ja.Label(next))
		b.label(tryDst)
		if err := g.emitMatch(&d, done); err != nil {
			return err
		}
		b.emit(asm.Ja.Label(next))
	} else {
		b.emit(asm.Ja.Label(done))
		b.label(tryDst)
		if err := g.emitMatch(&d, next); err != nil {
			return err
		}
	}
	b.label(done)
	return nil
}

// emitRanges16 compiles an OpRanges match on a 16-byte field (IPv6
// addresses): each bound is compared as a 128-bit big-endian number, high
// 64 bits first.
func (g *gen) emitRanges16(m *ir.Match, next string) error {
	rs := m.Ranges()
	if len(rs) == 0 || len(rs) > ir.MaxRanges {
		return fmt.Errorf("matcher %s: malformed ranges", m.Field)
	}
	off, err := headerOffset(m.Field)
	if err != nil {
		return err
	}
	b := g.b
	b.emit(
		asm.LoadMem(asm.R1, asm.R10, off, asm.DWord),
		asm.HostTo(asm.BE, asm.R1, asm.DWord),
		asm.LoadMem(asm.R2, asm.R10, off+8, asm.DWord),
		asm.HostTo(asm.BE, asm.R2, asm.DWord),
	)
	hit := b.fresh("ranges_hit")
	half := func(v []byte) (int64, int64) {
		return int64(binary.BigEndian.Uint64(v[:8])), int64(binary.BigEndian.Uint64(v[8:]))
	}
	for _, r := range rs {
		skip, geLow := b.fresh("ranges_next"), b.fresh("ranges_ge")
		loH, loL := half(r[0])
		hiH, hiL := half(r[1])
		b.emit(
			asm.LoadImm(asm.R3, loH, asm.DWord),
			asm.JGT.Reg(asm.R1, asm.R3, geLow),
			asm.JNE.Reg(asm.R1, asm.R3, skip),
			asm.LoadImm(asm.R3, loL, asm.DWord),
			asm.JLT.Reg(asm.R2, asm.R3, skip),
		)
		b.label(geLow)
		b.emit(
			asm.LoadImm(asm.R3, hiH, asm.DWord),
			asm.JLT.Reg(asm.R1, asm.R3, hit),
			asm.JNE.Reg(asm.R1, asm.R3, skip),
			asm.LoadImm(asm.R3, hiL, asm.DWord),
			asm.JLE.Reg(asm.R2, asm.R3, hit),
		)
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
