package backend

import (
	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/cilium/ebpf/asm"
)

// Labels of the parser.
const (
	lblParseError = "parse_error"
	lblParsed     = "parsed"
)

// ipv6ExtHeaders are the extension headers the IPv6 walk follows, as in
// ir.Parse.
var ipv6ExtHeaders = []int32{0, 43, 44, 51, 60}

// emitZeroBuffers clears the header buffers so that every later stack read
// is initialised whatever the parser found.
func (g *gen) emitZeroBuffers() {
	for off := int16(stackExt); off < stackEth+ethBufLen; off += 8 {
		g.b.emit(storeImmDW(asm.R10, off, 0))
	}
}

// emitParse emits the packet parser: on exit regL3 and regL4 hold the
// parse state (see layout.go) and the header buffers hold the headers.
// Parse errors are counted in the error slot. It mirrors ir.Parse.
func (g *gen) emitParse() {
	b := g.b
	l2 := g.l2Len()
	if l2 > 0 {
		b.emit(
			asm.JLT.Imm(regLen, ethLen, lblParseError),
			asm.Mov.Imm(asm.R2, 0),
		)
		g.emitLoadBytes(stackEth, ethLen)
		b.emit(
			asm.JNE.Imm(asm.R0, 0, lblParseError),
			asm.LoadMem(regL3, asm.R10, stackEth+12, asm.Half),
			asm.HostTo(asm.BE, regL3, asm.Half),
		)
	}
	b.emit(
		asm.JEq.Imm(regL3, ir.EthPIP, "parse_ipv4"),
		asm.JEq.Imm(regL3, ir.EthPIPv6, "parse_ipv6"),
		asm.Ja.Label(lblParsed),
	)
	g.emitParseIPv4(l2)
	g.emitParseIPv6(l2)
	g.emitParseL4()
	b.label(lblParseError)
	if g.chunk == 0 && !g.slow {
		// Chained programs and the xt.l4 slow body parse again; the
		// first one counts.
		g.emitCount(int(g.opt.ErrorSlot()))
	}
	b.label(lblParsed)
}

func (g *gen) emitParseIPv4(l2 int32) {
	b := g.b
	b.label("parse_ipv4")
	b.emit(
		asm.Mov.Reg(asm.R1, regLen),
		asm.Sub.Imm(asm.R1, l2),
		asm.JLT.Imm(asm.R1, 20, lblParseError),
		asm.Mov.Imm(asm.R2, l2),
	)
	g.emitLoadBytes(stackL3, 20)
	b.emit(
		asm.JNE.Imm(asm.R0, 0, lblParseError),
		asm.LoadMem(asm.R1, asm.R10, stackL3, asm.Byte),
		asm.Mov.Reg(asm.R2, asm.R1),
		asm.RSh.Imm(asm.R2, 4),
		asm.JNE.Imm(asm.R2, 4, lblParseError),
		asm.And.Imm(asm.R1, 0x0f),
		asm.LSh.Imm(asm.R1, 2),
		asm.JLT.Imm(asm.R1, 20, lblParseError),
		asm.Mov.Reg(asm.R2, regLen),
		asm.Sub.Imm(asm.R2, l2),
		asm.JLT.Reg(asm.R2, asm.R1, lblParseError),
		asm.Or.Imm(regL3, l3Present),
		asm.Add.Imm(asm.R1, l2),
		asm.StoreMem(asm.R10, stackOff, asm.R1, asm.DWord),
		asm.LoadMem(regL4, asm.R10, stackL3+9, asm.Byte),
		asm.Or.Imm(regL4, l4Known),
		asm.LoadMem(asm.R1, asm.R10, stackL3+6, asm.Half),
		asm.HostTo(asm.BE, asm.R1, asm.Half),
		asm.And.Imm(asm.R1, 0x1fff),
		asm.JNE.Imm(asm.R1, 0, lblParsed),
		asm.Ja.Label("parse_l4"),
	)
}

func (g *gen) emitParseIPv6(l2 int32) {
	b := g.b
	b.label("parse_ipv6")
	b.emit(
		asm.Mov.Reg(asm.R1, regLen),
		asm.Sub.Imm(asm.R1, l2),
		asm.JLT.Imm(asm.R1, 40, lblParseError),
		asm.Mov.Imm(asm.R2, l2),
	)
	g.emitLoadBytes(stackL3, 40)
	b.emit(
		asm.JNE.Imm(asm.R0, 0, lblParseError),
		asm.LoadMem(asm.R1, asm.R10, stackL3, asm.Byte),
		asm.RSh.Imm(asm.R1, 4),
		asm.JNE.Imm(asm.R1, 6, lblParseError),
		asm.Or.Imm(regL3, l3Present),
		// regL4 holds the next header number during the walk.
		asm.LoadMem(regL4, asm.R10, stackL3+6, asm.Byte),
		asm.Mov.Imm(asm.R1, l2+40),
		asm.StoreMem(asm.R10, stackOff, asm.R1, asm.DWord),
	)
	walkDone, extTruncated := "ipv6_walk_done", "ipv6_ext_truncated"
	for i := 0; i <= ir.MaxIPv6ExtHeaders; i++ {
		isExt := b.fresh("ipv6_ext")
		for _, h := range ipv6ExtHeaders {
			b.emit(asm.JEq.Imm(regL4, h, isExt))
		}
		b.emit(asm.Ja.Label(walkDone))
		b.label(isExt)
		if i == ir.MaxIPv6ExtHeaders {
			b.emit(asm.Or.Imm(regL4, l4Known), asm.Ja.Label(lblParsed))
			break
		}
		notFrag, notAH, adv := b.fresh("ipv6_not_frag"), b.fresh("ipv6_not_ah"), b.fresh("ipv6_adv")
		firstFrag := b.fresh("ipv6_first_frag")
		b.emit(asm.LoadMem(asm.R2, asm.R10, stackOff, asm.DWord))
		g.emitLoadBytes(stackExt, 8)
		b.emit(
			asm.JNE.Imm(asm.R0, 0, extTruncated),
			asm.LoadMem(asm.R1, asm.R10, stackOff, asm.DWord),
			asm.JNE.Imm(regL4, 44, notFrag),
			asm.LoadMem(asm.R2, asm.R10, stackExt+2, asm.Half),
			asm.HostTo(asm.BE, asm.R2, asm.Half),
			asm.And.Imm(asm.R2, 0xfff8),
			asm.JEq.Imm(asm.R2, 0, firstFrag),
			// Non-first fragment: no transport header.
			asm.LoadMem(regL4, asm.R10, stackExt, asm.Byte),
			asm.Or.Imm(regL4, l4Known),
			asm.Ja.Label(lblParsed),
		)
		b.label(firstFrag)
		b.emit(asm.Add.Imm(asm.R1, 8), asm.Ja.Label(adv))
		b.label(notFrag)
		b.emit(
			asm.LoadMem(asm.R2, asm.R10, stackExt+1, asm.Byte),
			asm.JNE.Imm(regL4, 51, notAH),
			asm.Add.Imm(asm.R2, 2),
			asm.LSh.Imm(asm.R2, 2),
			asm.Add.Reg(asm.R1, asm.R2),
			asm.Ja.Label(adv),
		)
		b.label(notAH)
		b.emit(
			asm.Add.Imm(asm.R2, 1),
			asm.LSh.Imm(asm.R2, 3),
			asm.Add.Reg(asm.R1, asm.R2),
		)
		b.label(adv)
		b.emit(
			asm.StoreMem(asm.R10, stackOff, asm.R1, asm.DWord),
			asm.LoadMem(regL4, asm.R10, stackExt, asm.Byte),
		)
	}
	b.label(extTruncated)
	b.emit(asm.Mov.Imm(regL4, 0), asm.Ja.Label(lblParseError))
	b.label(walkDone)
	b.emit(
		asm.Or.Imm(regL4, l4Known),
		asm.LoadMem(asm.R1, asm.R10, stackOff, asm.DWord),
		asm.JLT.Reg(regLen, asm.R1, lblParseError),
	)
}

// emitParseL4 loads the transport header of the protocols that have L4
// fields, checking that it is complete.
func (g *gen) emitParseL4() {
	b := g.b
	b.label("parse_l4")
	g.emitXTL4MarkThoff() // xtl4.go
	b.emit(asm.Mov.Reg(asm.R1, regL4), asm.And.Imm(asm.R1, 0xff))
	protos := []uint8{ir.ProtoTCP, ir.ProtoUDP, ir.ProtoICMP, ir.ProtoICMPv6}
	for _, p := range protos {
		b.emit(asm.JEq.Imm(asm.R1, int32(p), "parse_l4_"+itoaU8(p)))
	}
	b.emit(asm.Ja.Label(lblParsed))
	for _, p := range protos {
		b.label("parse_l4_" + itoaU8(p))
		b.emit(asm.LoadMem(asm.R2, asm.R10, stackOff, asm.DWord))
		g.emitLoadBytes(stackL4, int32(ir.L4HeaderLen(p)))
		b.emit(
			asm.JNE.Imm(asm.R0, 0, lblParseError),
			asm.Or.Imm(regL4, l4Present),
			asm.Ja.Label(lblParsed),
		)
	}
}

func itoaU8(p uint8) string {
	return string([]byte{'0' + p/100, '0' + p/10%10, '0' + p%10})
}
