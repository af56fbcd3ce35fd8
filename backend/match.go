package backend

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/cilium/ebpf/asm"
)

// emitGuard checks the rule's hoisted protocol guards.
func (g *gen) emitGuard(gd guard, next string) {
	b := g.b
	if gd.never {
		b.emit(asm.Ja.Label(next))
		return
	}
	switch {
	case gd.l3 != 0:
		b.emit(asm.JNE.Imm(regL3, int32(gd.l3)|l3Present, next))
	case gd.l3Any:
		b.emit(asm.Mov.Reg(asm.R1, regL3), asm.And.Imm(asm.R1, l3Present), asm.JEq.Imm(asm.R1, 0, next))
	}
	switch {
	case len(gd.l4) == 1:
		b.emit(asm.JNE.Imm(regL4, int32(gd.l4[0])|l4Known|l4Present, next))
	case len(gd.l4) > 1:
		ok := b.fresh("l4_ok")
		for _, p := range gd.l4[:len(gd.l4)-1] {
			b.emit(asm.JEq.Imm(regL4, int32(p)|l4Known|l4Present, ok))
		}
		b.emit(asm.JNE.Imm(regL4, int32(gd.l4[len(gd.l4)-1])|l4Known|l4Present, next))
		b.label(ok)
	case gd.l4Known:
		b.emit(asm.Mov.Reg(asm.R1, regL4), asm.And.Imm(asm.R1, l4Known), asm.JEq.Imm(asm.R1, 0, next))
	}
}

// emitMatch jumps to next unless m holds. The rule's guards have already
// been checked, so every field m reads is present.
func (g *gen) emitMatch(m *ir.Match, next string) error {
	g.emitXTL4FieldGuard(m, next) // xtl4.go
	switch {
	case m.Op == ir.OpIn:
		return g.emitSetMatch(m, next)
	case m.Field.Info().Compound: // iptables packet matches (pktmatch.go)
		return g.emitCompoundMatch(m, next)
	case m.Op == ir.OpRanges && m.Field.Width() == 16: // ip6tables iprange (pktmatch.go)
		return g.emitRanges16(m, next)
	case m.Field == ir.MetaProbability:
		return g.emitProbability(m, next)
	case m.Field == ir.MetaFlowProbability:
		return g.emitFlowProbability(m, next)
	case m.Field == ir.MetaIifName || m.Field == ir.MetaOifName:
		return g.emitIfNameMatch(m, next)
	case m.Op == ir.OpRanges:
		return g.emitRangesMatch(m, next)
	case ir.IsCtEntryField(m.Field):
		return g.emitCtEntryMatch(m, next) // field_ct.go
	}
	w := m.Field.Width()
	if len(m.Value) != w || (m.Mask != nil && len(m.Mask) != w) {
		return fmt.Errorf("matcher %s: value has the wrong width", m.Field)
	}
	if w == 16 {
		if m.Op != ir.OpEq {
			return fmt.Errorf("matcher %s does not support operator %s", m.Field, m.Op)
		}
		return g.emitEq16(m, next)
	}
	rp, err := g.emitLoadField(m.Field, asm.R1)
	if err != nil {
		return err
	}
	switch m.Op {
	case ir.OpEq:
		g.emitEq(m, rp, next)
	case ir.OpRange:
		if len(m.High) != w {
			return fmt.Errorf("matcher %s: range high bound has the wrong width", m.Field)
		}
		g.toHost(asm.R1, rp, w)
		g.emitRange(m, next)
	case ir.OpAny, ir.OpAll:
		g.toHost(asm.R1, rp, w)
		v := int32(uint32(ir.Uint(m.Value)))
		g.b.emit(asm.And.Imm32(asm.R1, v))
		// any holds when R1 != 0, all when R1 == v.
		want := int32(0)
		holdsIfEqual := false
		if m.Op == ir.OpAll {
			want, holdsIfEqual = v, true
		}
		if holdsIfEqual == m.Negate {
			g.b.emit(asm.JEq.Imm32(asm.R1, want, next))
		} else {
			g.b.emit(asm.JNE.Imm32(asm.R1, want, next))
		}
	default:
		return fmt.Errorf("matcher %s: unsupported operator %s", m.Field, m.Op)
	}
	return nil
}

// constantMatch handles matches whose result does not depend on the
// packet: holds tells whether the match (before negation) holds.
func (g *gen) constantMatch(m *ir.Match, holds bool, next string) {
	if holds == m.Negate {
		g.b.emit(asm.Ja.Label(next))
	}
}

// emitEq compares R1 (at most 4 bytes) with the operand under its mask.
func (g *gen) emitEq(m *ir.Match, rp repr, next string) {
	val, mask := m.Value, m.Mask
	if mask != nil && !bytes.Equal(andBytes(val, mask), val) {
		g.constantMatch(m, false, next)
		return
	}
	conv := nativeUint
	if rp == reprHost {
		conv = ir.Uint
	}
	b := g.b
	if mask != nil && !allOnes(mask) {
		if allZero(mask) {
			g.constantMatch(m, true, next)
			return
		}
		b.emit(asm.And.Imm32(asm.R1, int32(uint32(conv(mask)))))
	}
	v := int32(uint32(conv(val)))
	if m.Negate {
		b.emit(asm.JEq.Imm32(asm.R1, v, next))
	} else {
		b.emit(asm.JNE.Imm32(asm.R1, v, next))
	}
}

// emitRange checks low <= R1 <= high (R1 numeric).
func (g *gen) emitRange(m *ir.Match, next string) {
	b := g.b
	lo, hi := int32(uint32(ir.Uint(m.Value))), int32(uint32(ir.Uint(m.High)))
	if !m.Negate {
		b.emit(asm.JLT.Imm32(asm.R1, lo, next), asm.JGT.Imm32(asm.R1, hi, next))
		return
	}
	hit := b.fresh("range_out")
	b.emit(asm.JLT.Imm32(asm.R1, lo, hit), asm.JGT.Imm32(asm.R1, hi, hit), asm.Ja.Label(next))
	b.label(hit)
}

// emitEq16 compares a 16-byte field (IPv6 address) as two 64-bit halves.
func (g *gen) emitEq16(m *ir.Match, next string) error {
	off, err := headerOffset(m.Field)
	if err != nil {
		return err
	}
	return g.emitEq16At(m, off, next)
}

// emitEq16At compares the 16 bytes at stack offset off with m's operand.
func (g *gen) emitEq16At(m *ir.Match, off int16, next string) error {
	val, mask := m.Value, m.Mask
	if mask == nil {
		mask = bytes.Repeat([]byte{0xff}, 16)
	}
	if !bytes.Equal(andBytes(val, mask), val) {
		g.constantMatch(m, false, next)
		return nil
	}
	b := g.b
	mismatch := next
	if m.Negate {
		mismatch = b.fresh("ip6_differs")
	}
	compared := false
	for h := 0; h < 2; h++ {
		mk, v := mask[8*h:8*h+8], val[8*h:8*h+8]
		if allZero(mk) {
			continue
		}
		compared = true
		b.emit(asm.LoadMem(asm.R1, asm.R10, off+int16(8*h), asm.DWord))
		if !allOnes(mk) {
			b.emit(asm.LoadImm(asm.R2, int64(binary.NativeEndian.Uint64(mk)), asm.DWord), asm.And.Reg(asm.R1, asm.R2))
		}
		b.emit(
			asm.LoadImm(asm.R2, int64(binary.NativeEndian.Uint64(v)), asm.DWord),
			asm.JNE.Reg(asm.R1, asm.R2, mismatch),
		)
	}
	if !compared {
		g.constantMatch(m, true, next)
		return nil
	}
	if m.Negate {
		b.emit(asm.Ja.Label(next))
		b.label(mismatch)
	}
	return nil
}

// emitProbability: bpf_get_prandom_u32() % ProbabilityScale < value.
func (g *gen) emitProbability(m *ir.Match, next string) error {
	if len(m.Value) != 4 {
		return fmt.Errorf("matcher %s: value has the wrong width", m.Field)
	}
	v := int32(uint32(ir.Uint(m.Value)))
	b := g.b
	b.emit(asm.FnGetPrandomU32.Call(), asm.Mod.Imm32(asm.R0, ir.ProbabilityScale))
	if m.Negate {
		b.emit(asm.JLT.Imm32(asm.R0, v, next))
	} else {
		b.emit(asm.JGE.Imm32(asm.R0, v, next))
	}
	return nil
}

// Constants of ir.FlowHash.
const (
	flowHashSeed  = 0x9e3779b9 // as a uint32
	flowHashPrime = 0x01000193
)

// emitFlowProbability: ir.FlowHash(5-tuple) % ProbabilityScale < value.
// The guard ensures a network header and a TCP or UDP header.
func (g *gen) emitFlowProbability(m *ir.Match, next string) error {
	if len(m.Value) != 4 {
		return fmt.Errorf("matcher %s: value has the wrong width", m.Field)
	}
	b := g.b
	mix := func(off int16) {
		b.emit(
			asm.LoadMem(asm.R2, asm.R10, off, asm.Word),
			asm.HostTo(asm.BE, asm.R2, asm.Word),
			asm.Xor.Reg32(asm.R1, asm.R2),
			asm.Mul.Imm32(asm.R1, flowHashPrime),
		)
	}
	v6, ports := b.fresh("flow_v6"), b.fresh("flow_ports")
	b.emit(
		asm.Mov.Imm32(asm.R1, int32(flowHashSeed-(1<<32))),
		asm.JNE.Imm(regL3, ir.EthPIP|l3Present, v6),
	)
	mix(stackL3 + 12)
	mix(stackL3 + 16)
	b.emit(asm.Ja.Label(ports))
	b.label(v6)
	for off := int16(8); off < 40; off += 4 {
		mix(stackL3 + off)
	}
	b.label(ports)
	mix(stackL4)
	b.emit(
		asm.Mov.Reg(asm.R2, regL4),
		asm.And.Imm(asm.R2, 0xff),
		asm.Xor.Reg32(asm.R1, asm.R2),
		asm.Mul.Imm32(asm.R1, flowHashPrime),
		asm.Mod.Imm32(asm.R1, ir.ProbabilityScale),
	)
	v := int32(uint32(ir.Uint(m.Value)))
	if m.Negate {
		b.emit(asm.JLT.Imm32(asm.R1, v, next))
	} else {
		b.emit(asm.JGE.Imm32(asm.R1, v, next))
	}
	return nil
}

func andBytes(v, mask []byte) []byte {
	out := make([]byte, len(v))
	for i := range v {
		out[i] = v[i] & mask[i]
	}
	return out
}

func allOnes(b []byte) bool {
	for _, c := range b {
		if c != 0xff {
			return false
		}
	}
	return true
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
