package backend

import (
	"fmt"

	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/cilium/ebpf/asm"
)

// emitTCPOptionMatch walks the TCP options as tcp_find_option does (see
// ir.TCPOptionPresent): a data offset below 5 or options past the end of
// the packet drop the packet without counting it (ir.RuleOutcome). The
// walk is unrolled (every step advances at least one byte, the options
// are at most 40).
func (g *gen) emitTCPOptionMatch(m *ir.Match, next string) error {
	if m.Op != ir.OpEq || len(m.Value) != 1 || m.Mask != nil {
		return fmt.Errorf("matcher %s: malformed match", m.Field)
	}
	if g.fl == ir.FlavourCgroupSockAddr {
		return fmt.Errorf("matcher %s is not supported on %s", m.Field, g.hook)
	}
	b := g.b
	kind := int32(m.Value[0])
	drop, err := g.verdictCode(ir.Drop)
	if err != nil {
		return err
	}
	found, notFound, hot := b.fresh("tcpopt_found"), b.fresh("tcpopt_none"), b.fresh("tcpopt_hotdrop")
	b.emit(
		asm.LoadMem(asm.R1, asm.R10, stackL4+12, asm.Byte),
		asm.RSh.Imm(asm.R1, 4),
		asm.LSh.Imm(asm.R1, 2),
		asm.JLT.Imm(asm.R1, 20, hot),
		asm.Sub.Imm(asm.R1, 20),
		asm.JEq.Imm(asm.R1, 0, notFound),
		asm.JGT.Imm(asm.R1, tcpOptsMax, hot),
		asm.LoadMem(asm.R2, asm.R10, stackOff, asm.DWord),
		asm.Add.Imm(asm.R2, 20),
		asm.Mov.Reg(asm.R3, asm.R2),
		asm.Add.Reg(asm.R3, asm.R1),
		asm.JGT.Reg(asm.R3, regLen, hot),
		asm.StoreMem(asm.R10, stackPktTmp, asm.R1, asm.DWord),
	)
	for off := int16(0); off < tcpOptsMax; off += 8 {
		b.emit(storeImmDW(asm.R10, stackTCPOpts+off, 0))
	}
	g.emitLoadBytesLen(stackTCPOpts)
	b.emit(
		asm.JNE.Imm(asm.R0, 0, hot),
		asm.LoadMem(asm.R1, asm.R10, stackPktTmp, asm.DWord),
		asm.Mov.Imm(asm.R2, 0),
	)
	for i := 0; i < tcpOptsMax; i++ {
		one, cont := b.fresh("tcpopt_one"), b.fresh("tcpopt_next")
		b.emit(
			asm.JGE.Reg(asm.R2, asm.R1, notFound),
			asm.JGE.Imm(asm.R2, tcpOptsMax, notFound),
			asm.Mov.Reg(asm.R3, asm.R10),
			asm.Add.Imm(asm.R3, stackTCPOpts),
			asm.Add.Reg(asm.R3, asm.R2),
			asm.LoadMem(asm.R4, asm.R3, 0, asm.Byte),
			asm.JEq.Imm(asm.R4, kind, found),
			asm.Mov.Reg(asm.R5, asm.R2),
			asm.Add.Imm(asm.R5, 1),
			asm.JLT.Imm(asm.R4, 2, one),
			// Past the last byte the walk ends whatever the length.
			asm.JGE.Reg(asm.R5, asm.R1, notFound),
			asm.JGE.Imm(asm.R5, tcpOptsMax, notFound),
			asm.LoadMem(asm.R4, asm.R3, 1, asm.Byte),
			asm.JEq.Imm(asm.R4, 0, one),
			asm.Add.Reg(asm.R2, asm.R4),
			asm.Ja.Label(cont),
		)
		b.label(one)
		b.emit(asm.Mov.Reg(asm.R2, asm.R5))
		b.label(cont)
	}
	b.emit(asm.Ja.Label(notFound))
	// xt_tcpudp drops the packet on the spot (hotdrop): no counter.
	b.label(hot)
	b.emit(asm.Mov.Imm(regL3, drop), asm.LongJump("return"))
	b.label(found)
	done := b.fresh("tcpopt_done")
	if m.Negate {
		b.emit(asm.Ja.Label(next))
		b.label(notFound)
	} else {
		b.emit(asm.Ja.Label(done))
		b.label(notFound)
		b.emit(asm.Ja.Label(next))
	}
	b.label(done)
	return nil
}

// hotDrops reports whether a rule's matches include one that can drop the
// packet when reached (tcp.option): such rules are compiled match by
// match, in order, never branch-free, so that the matches before it
// decide whether it is reached and the ones after it do not.
func hotDrops(ms []*ir.Match) bool {
	for _, m := range ms {
		if m.Field == ir.TCPOption {
			return true
		}
	}
	return false
}

// emitLoadBytesLen copies the number of bytes in R1 (1 to 40, checked)
// at the packet offset in R2 into the stack at dst; R0 is 0 on success.
func (g *gen) emitLoadBytesLen(dst int16) {
	b := g.b
	switch g.fl {
	case ir.FlavourXDP, ir.FlavourTC, ir.FlavourCgroupSkb:
		fn := asm.FnSkbLoadBytes
		if g.fl == ir.FlavourXDP {
			fn = asm.FnXdpLoadBytes
		}
		b.emit(
			asm.Mov.Reg(asm.R4, asm.R1),
			asm.Mov.Reg(asm.R1, regCtx),
			asm.Mov.Reg(asm.R3, asm.R10),
			asm.Add.Imm(asm.R3, int32(dst)),
			fn.Call(),
		)
	case ir.FlavourNF:
		b.emit(
			asm.Mov.Reg(asm.R4, asm.R2),
			asm.Mov.Reg(asm.R2, asm.R1),
			asm.Mov.Reg(asm.R1, asm.R10),
			asm.Add.Imm(asm.R1, int32(dst)),
			asm.Mov.Reg(asm.R3, asm.R10),
			asm.Add.Imm(asm.R3, stackDynptr),
			asm.Mov.Imm(asm.R5, 0),
			asm.FnDynptrRead.Call(),
		)
	}
}
