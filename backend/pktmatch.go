package backend

import (
	"fmt"

	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/cilium/ebpf/asm"
)

// The matches of the iptables packet matches (ir/pktmatch.go):
// meta.pkttype, eth.saddr, tcp.option, tcp.port/udp.port, and the
// 16-byte address ranges of ip6tables' iprange.

// Stack buffers of these matches. They live in the set key area (see
// layout.go), which only holds data during a set or table lookup.
const (
	stackTCPOpts = stackKey - 40 // TCP options, 40 bytes
	stackPktTmp  = stackKey - 56 // 16 bytes of temporaries
	tcpOptsMax   = 40
)

// TC context offset of struct __sk_buff.pkt_type (linux/bpf.h).
const skbPktType = 4

// emitCompoundMatch compiles a match on a Compound field.
func (g *gen) emitCompoundMatch(m *ir.Match, next string) error {
	switch m.Field {
	case ir.MetaPktType:
		return g.emitPktTypeMatch(m, next)
	case ir.MetaMACSaddr:
		return g.emitMACMatch(m, next)
	case ir.TCPOption:
		return g.emitTCPOptionMatch(m, next)
	case ir.TCPPort, ir.UDPPort:
		return g.emitEitherPortMatch(m, next)
	case ir.XTL4:
		return g.emitXTL4Match(m, next) // xtl4.go
	}
	return fmt.Errorf("matcher %s is not supported by the backend", m.Field)
}

// emitPktTypeMatch loads skb->pkt_type, maps PACKET_LOOPBACK as
// xt_pkttype does (ir.EffectivePktType) and compares.
func (g *gen) emitPktTypeMatch(m *ir.Match, next string) error {
	if m.Op != ir.OpEq || len(m.Value) != 1 || (m.Mask != nil && len(m.Mask) != 1) {
		return fmt.Errorf("matcher %s: malformed match", m.Field)
	}
	b := g.b
	switch g.fl {
	case ir.FlavourTC:
		b.emit(asm.LoadMem(asm.R1, regCtx, skbPktType, asm.Word))
	case ir.FlavourNF:
		if g.nf == nil || g.nf.pkt.pktTypeByte < 0 {
			return fmt.Errorf("matcher %s: the kernel's struct sk_buff has no pkt_type bitfield", m.Field)
		}
		b.emit(
			asm.LoadMem(asm.R1, regCtx, nfCtxSkb, asm.DWord),
			asm.LoadMem(asm.R1, asm.R1, g.nf.pkt.pktTypeByte, asm.Byte),
		)
		if g.nf.pkt.pktTypeShift != 0 {
			b.emit(asm.RSh.Imm(asm.R1, int32(g.nf.pkt.pktTypeShift)))
		}
	default:
		return fmt.Errorf("matcher %s is only supported on netfilter and TC hooks", m.Field)
	}
	b.emit(asm.And.Imm(asm.R1, 7))
	done, bcast := b.fresh("pkttype_done"), b.fresh("pkttype_bcast")
	b.emit(
		asm.JNE.Imm(asm.R1, ir.PacketLoopback, done),
		asm.Mov.Imm(asm.R1, ir.PacketMulticast),
		asm.Mov.Reg(asm.R2, regL3),
		asm.And.Imm(asm.R2, 0xffff),
		asm.JEq.Imm(asm.R2, ir.EthPIPv6, done),
		asm.JNE.Imm(regL3, ir.EthPIP|l3Present, bcast),
		asm.LoadMem(asm.R2, asm.R10, stackL3+16, asm.Byte),
		asm.And.Imm(asm.R2, 0xf0),
		asm.JEq.Imm(asm.R2, 0xe0, done),
	)
	b.label(bcast)
	b.emit(asm.Mov.Imm(asm.R1, ir.PacketBroadcast))
	b.label(done)
	g.emitEq(m, reprHost, next)
	return nil
}

// emitMACMatch reads the Ethernet source address as xt_mac does: false
// without skb->dev, for devices other than ARPHRD_ETHER, and when
// skb->mac_header + ETH_HLEN is past skb->data (unset MAC header).
func (g *gen) emitMACMatch(m *ir.Match, next string) error {
	if g.fl != ir.FlavourNF || g.nf == nil {
		return fmt.Errorf("matcher %s is only supported on netfilter hooks", m.Field)
	}
	po := &g.nf.pkt
	if !po.macOK() {
		return fmt.Errorf("matcher %s: the kernel's struct sk_buff or net_device lacks dev, type, head, data or mac_header", m.Field)
	}
	if m.Op != ir.OpEq || len(m.Value) != 6 || (m.Mask != nil && len(m.Mask) != 6) {
		return fmt.Errorf("matcher %s: malformed match", m.Field)
	}
	mask := m.Mask
	if mask == nil {
		mask = []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	}
	if string(andBytes(m.Value, mask)) != string(m.Value) {
		g.constantMatch(m, false, next)
		return nil
	}
	b := g.b
	readKernel := func(src asm.Register, off int16, dst int16, n int32) {
		b.emit(
			asm.Mov.Reg(asm.R3, src),
			asm.Add.Imm(asm.R3, int32(off)),
			asm.Mov.Reg(asm.R1, asm.R10),
			asm.Add.Imm(asm.R1, int32(dst)),
			asm.Mov.Imm(asm.R2, n),
			asm.FnProbeReadKernel.Call(),
			asm.JNE.Imm(asm.R0, 0, next),
		)
	}
	b.emit(
		asm.LoadMem(asm.R1, regCtx, nfCtxSkb, asm.DWord),
		asm.LoadMem(asm.R2, asm.R1, po.skbDev, asm.DWord),
		asm.JEq.Imm(asm.R2, 0, next),
		asm.LoadMem(asm.R2, asm.R2, po.devType, asm.Half),
		asm.JNE.Imm(asm.R2, ir.ARPHRDEther, next),
		asm.LoadMem(asm.R2, asm.R1, po.skbMacHeader, asm.Half),
		asm.StoreMem(asm.R10, stackPktTmp, asm.R2, asm.DWord),
		// skb->head and skb->data as numbers: probe reads.
		asm.Mov.Reg(asm.R3, asm.R1),
		asm.Add.Imm(asm.R3, int32(po.skbHead)),
		asm.Mov.Reg(asm.R1, asm.R10),
		asm.Add.Imm(asm.R1, stackPktTmp+8),
		asm.Mov.Imm(asm.R2, 8),
		asm.FnProbeReadKernel.Call(),
		asm.JNE.Imm(asm.R0, 0, next),
		asm.LoadMem(asm.R1, regCtx, nfCtxSkb, asm.DWord),
	)
	readKernel(asm.R1, po.skbData, stackTCPOpts, 8)
	b.emit(
		// R1 = data - head, R2 = mac_header + ETH_HLEN.
		asm.LoadMem(asm.R1, asm.R10, stackTCPOpts, asm.DWord),
		asm.LoadMem(asm.R3, asm.R10, stackPktTmp+8, asm.DWord),
		asm.Sub.Reg(asm.R1, asm.R3),
		asm.LoadMem(asm.R2, asm.R10, stackPktTmp, asm.DWord),
		asm.Add.Imm(asm.R2, ethLen),
		asm.JGT.Reg(asm.R2, asm.R1, next),
		// The source address: head + mac_header + 6.
		asm.Add.Imm(asm.R2, 6-ethLen),
		asm.Add.Reg(asm.R3, asm.R2),
		asm.Mov.Reg(asm.R4, asm.R3),
	)
	readKernel(asm.R4, 0, stackPktTmp, 6)
	miss := next
	if m.Negate {
		miss = b.fresh("mac_differs")
	}
	for _, part := range []struct {
		off  int
		size int
	}{{0, 4}, {4, 2}} {
		mk := mask[part.off : part.off+part.size]
		if allZero(mk) {
			continue
		}
		b.emit(asm.LoadMem(asm.R1, asm.R10, stackPktTmp+int16(part.off), loadSize(part.size)))
		if !allOnes(mk) {
			b.emit(asm.And.Imm32(asm.R1, int32(uint32(nativeUint(mk)))))
		}
		b.emit(asm.JNE.Imm32(asm.R1, int32(uint32(nativeUint(m.Value[part.off:part.off+part.size]))), miss))
	}
	if m.Negate {
		b.emit(asm.Ja.Label(next))
		b.label(miss)
	}
	return nil
}
