package backend

import (
	"encoding/binary"
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
