package backend

import (
	"bytes"
	"encoding/binary"

	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/cilium/ebpf/asm"
)

// Rules with several compares are compiled branch-free: each match ORs a
// non-zero "mismatch" value into regAcc, and one conditional jump leaves
// the rule. Besides saving branches per packet, this keeps the verifier's
// stack of pending branches flat: with one jump per compare, every rule
// leaves a pending state behind, and the kernel refuses programs with more
// than 8192 of them (BPF_COMPLEXITY_LIMIT_JMP_SEQ).

// regAcc accumulates the mismatch bits of a rule.
const regAcc = asm.R4

// combinable reports whether m can be compiled branch-free.
func combinable(m *ir.Match) bool {
	if m.Field.Info().Compound {
		return false // several compares or kernel struct reads (pktmatch.go)
	}
	switch m.Field {
	case ir.MetaProbability, ir.MetaFlowProbability, ir.MetaFlowHash:
		return false // helper calls clobber regAcc
	case ir.MetaIifName, ir.MetaOifName, ir.CtState, ir.CtProto:
		return false // kernel struct loads with scratch registers (field_nf.go)
	case ir.AddrSType, ir.AddrDType, ir.AddrSTypeIif, ir.AddrDTypeIif, ir.AddrSTypeOif, ir.AddrDTypeOif:
		return false // a map lookup clobbers regAcc (addrtype.go)
	}
	if ir.IsCtEntryField(m.Field) {
		return false // helper calls clobber regAcc (field_ct.go)
	}
	w := m.Field.Width()
	if !m.Field.Valid() || len(m.Value) != w || (m.Mask != nil && len(m.Mask) != w) {
		return false
	}
	switch m.Op {
	case ir.OpEq:
		return w <= 4 || w == 16
	case ir.OpRange:
		return w <= 4 && len(m.High) == w
	case ir.OpAny, ir.OpAll:
		return w <= 4
	}
	return false
}

// eqConstant tells whether an eq match's result is known at compile time
// (holds is then its value before negation).
func eqConstant(m *ir.Match) (holds, known bool) {
	if m.Mask == nil {
		return false, false
	}
	if !bytes.Equal(andBytes(m.Value, m.Mask), m.Value) {
		return false, true
	}
	if allZero(m.Mask) {
		return true, true
	}
	return false, false
}

// emitCombined compiles matches (all combinable) into one jump to next.
func (g *gen) emitCombined(ms []*ir.Match, next string) error {
	b := g.b
	b.emit(asm.Mov.Imm(regAcc, 0))
	for _, m := range ms {
		if m.Op == ir.OpEq {
			if holds, known := eqConstant(m); known {
				if holds == m.Negate {
					b.emit(asm.Ja.Label(next))
					return nil
				}
				continue
			}
			if m.Field.Width() == 16 {
				if err := g.emitMismatch16(m); err != nil {
					return err
				}
				continue
			}
		}
		rp, err := g.emitLoadField(m.Field, asm.R1)
		if err != nil {
			return err
		}
		w := m.Field.Width()
		switch m.Op {
		case ir.OpEq:
			conv := nativeUint
			if rp == reprHost {
				conv = ir.Uint
			}
			if m.Mask != nil && !allOnes(m.Mask) {
				b.emit(asm.And.Imm32(asm.R1, int32(uint32(conv(m.Mask)))))
			}
			b.emit(asm.Xor.Imm32(asm.R1, int32(uint32(conv(m.Value)))))
			if m.Negate {
				g.emitIsZero(asm.R1)
			}
		case ir.OpRange:
			g.toHost(asm.R1, rp, w)
			lo, hi := uint32(ir.Uint(m.Value)), uint32(ir.Uint(m.High))
			// R1 = (x - lo) mod 2^32; out of range iff R1 > hi - lo.
			b.emit(
				asm.Sub.Imm32(asm.R1, int32(lo)),
				asm.Mov.Imm32(asm.R2, int32(hi-lo)),
				asm.Sub.Reg(asm.R2, asm.R1),
				asm.RSh.Imm(asm.R2, 63),
				asm.Mov.Reg(asm.R1, asm.R2),
			)
			if m.Negate {
				b.emit(asm.Xor.Imm(asm.R1, 1))
			}
		case ir.OpAny, ir.OpAll:
			g.toHost(asm.R1, rp, w)
			v := int32(uint32(ir.Uint(m.Value)))
			b.emit(asm.And.Imm32(asm.R1, v))
			if m.Op == ir.OpAll {
				b.emit(asm.Xor.Imm32(asm.R1, v)) // non-zero: a bit is missing
			}
			if (m.Op == ir.OpAny) != m.Negate {
				g.emitIsZero(asm.R1)
			}
		}
		b.emit(asm.Or.Reg(regAcc, asm.R1))
	}
	b.emit(asm.JNE.Imm(regAcc, 0, next))
	return nil
}

// emitIsZero turns r (a value below 2^32) into 1 when it is zero, 0
// otherwise.
func (g *gen) emitIsZero(r asm.Register) {
	g.b.emit(asm.Sub.Imm(r, 1), asm.RSh.Imm(r, 63))
}

// emitMismatch16 ORs into regAcc the mismatch of a 16-byte eq match.
func (g *gen) emitMismatch16(m *ir.Match) error {
	off, err := headerOffset(m.Field)
	if err != nil {
		return err
	}
	mask := m.Mask
	if mask == nil {
		mask = bytes.Repeat([]byte{0xff}, 16)
	}
	b := g.b
	b.emit(asm.Mov.Imm(asm.R3, 0))
	for h := 0; h < 2; h++ {
		mk, v := mask[8*h:8*h+8], m.Value[8*h:8*h+8]
		if allZero(mk) {
			continue
		}
		b.emit(asm.LoadMem(asm.R1, asm.R10, off+int16(8*h), asm.DWord))
		if !allOnes(mk) {
			b.emit(asm.LoadImm(asm.R2, int64(binary.NativeEndian.Uint64(mk)), asm.DWord), asm.And.Reg(asm.R1, asm.R2))
		}
		b.emit(
			asm.LoadImm(asm.R2, int64(binary.NativeEndian.Uint64(v)), asm.DWord),
			asm.Xor.Reg(asm.R1, asm.R2),
			asm.Or.Reg(asm.R3, asm.R1),
		)
	}
	if m.Negate {
		// Mismatch iff R3 == 0: (R3 | -R3) >> 63 is 1 iff R3 != 0.
		b.emit(
			asm.Mov.Reg(asm.R2, asm.R3),
			asm.Neg.Imm(asm.R2, 0),
			asm.Or.Reg(asm.R2, asm.R3),
			asm.RSh.Imm(asm.R2, 63),
			asm.Xor.Imm(asm.R2, 1),
			asm.Mov.Reg(asm.R3, asm.R2),
		)
	}
	b.emit(asm.Or.Reg(regAcc, asm.R3))
	return nil
}
