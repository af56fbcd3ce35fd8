package backend

import (
	"fmt"

	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// Context offsets from the uapi header linux/bpf.h.
const (
	skbLen            = 0  // struct __sk_buff.len
	skbMark           = 8  // struct __sk_buff.mark
	skbProtocol       = 16 // struct __sk_buff.protocol
	skbIngressIfindex = 36 // struct __sk_buff.ingress_ifindex
	skbIfindex        = 40 // struct __sk_buff.ifindex
	xdpIngressIfindex = 12 // struct xdp_md.ingress_ifindex
	saUserIP4         = 4  // struct bpf_sock_addr.user_ip4
	saUserIP6         = 8  // struct bpf_sock_addr.user_ip6
	saUserPort        = 24 // struct bpf_sock_addr.user_port
	saProtocol        = 36 // struct bpf_sock_addr.protocol
	saMsgSrcIP4       = 40 // struct bpf_sock_addr.msg_src_ip4
	saMsgSrcIP6       = 44 // struct bpf_sock_addr.msg_src_ip6
	nfCtxState        = 0  // struct bpf_nf_ctx.state
	nfCtxSkb          = 8  // struct bpf_nf_ctx.skb
	bpfFIngress       = 1  // BPF_F_INGRESS
	bpfFNoPrealloc    = 1  // BPF_F_NO_PREALLOC
	nfprotoIPv4       = 2  // NFPROTO_IPV4
	nfprotoIPv6       = 10 // NFPROTO_IPV6
)

// Return codes.
const (
	xdpDrop  = 1
	xdpPass  = 2
	tcxNext  = -1
	tcxPass  = 0
	tcxDrop  = 2
	nfDrop   = 0
	nfAccept = 1
)

func programType(h ir.Hook) (ebpf.ProgramType, ebpf.AttachType, error) {
	switch h {
	case ir.HookXDP:
		return ebpf.XDP, ebpf.AttachNone, nil
	case ir.HookTCIngress:
		return ebpf.SchedCLS, ebpf.AttachTCXIngress, nil
	case ir.HookTCEgress:
		return ebpf.SchedCLS, ebpf.AttachTCXEgress, nil
	case ir.HookNFPreRouting, ir.HookNFLocalIn, ir.HookNFForward, ir.HookNFLocalOut, ir.HookNFPostRouting:
		return ebpf.Netfilter, ebpf.AttachNetfilter, nil
	case ir.HookCgroupSkbIngress:
		return ebpf.CGroupSKB, ebpf.AttachCGroupInetIngress, nil
	case ir.HookCgroupSkbEgress:
		return ebpf.CGroupSKB, ebpf.AttachCGroupInetEgress, nil
	case ir.HookCgroupSockAddrConnect4:
		return ebpf.CGroupSockAddr, ebpf.AttachCGroupInet4Connect, nil
	case ir.HookCgroupSockAddrConnect6:
		return ebpf.CGroupSockAddr, ebpf.AttachCGroupInet6Connect, nil
	case ir.HookCgroupSockAddrSendmsg4:
		return ebpf.CGroupSockAddr, ebpf.AttachCGroupUDP4Sendmsg, nil
	case ir.HookCgroupSockAddrSendmsg6:
		return ebpf.CGroupSockAddr, ebpf.AttachCGroupUDP6Sendmsg, nil
	}
	return 0, 0, fmt.Errorf("hook %s has no program type", h)
}

// l2Len is the number of bytes before the network header in the data the
// program sees.
func (g *gen) l2Len() int32 {
	if g.fl == ir.FlavourXDP || g.fl == ir.FlavourTC {
		return ethLen
	}
	return 0
}

// emitLoadBytes copies n bytes at the offset held in R2 into the stack at
// dst; R0 is 0 on success, negative when the packet is too short.
func (g *gen) emitLoadBytes(dst int16, n int32) {
	b := g.b
	switch g.fl {
	case ir.FlavourXDP, ir.FlavourTC, ir.FlavourCgroupSkb:
		fn, name := asm.FnSkbLoadBytes, "bpf_skb_load_bytes"
		if g.fl == ir.FlavourXDP {
			fn, name = asm.FnXdpLoadBytes, "bpf_xdp_load_bytes"
		}
		b.emit(
			asm.Mov.Reg(asm.R1, regCtx),
			asm.Mov.Reg(asm.R3, asm.R10),
			asm.Add.Imm(asm.R3, int32(dst)),
			asm.Mov.Imm(asm.R4, n),
			fn.Call(),
		)
		g.verboseCall(fmt.Sprintf("%s (%s)", name, loadedHeader(dst)), failNonZero)
	case ir.FlavourNF:
		b.emit(
			asm.Mov.Reg(asm.R4, asm.R2),
			asm.Mov.Reg(asm.R1, asm.R10),
			asm.Add.Imm(asm.R1, int32(dst)),
			asm.Mov.Imm(asm.R2, n),
			asm.Mov.Reg(asm.R3, asm.R10),
			asm.Add.Imm(asm.R3, stackDynptr),
			asm.Mov.Imm(asm.R5, 0),
			asm.FnDynptrRead.Call(),
		)
		g.verboseCall(fmt.Sprintf("bpf_dynptr_read (%s)", loadedHeader(dst)), failNonZero)
	}
}

// emitContext loads the context pointer, the packet length and, for
// flavours without an Ethernet header, the EtherType.
func (g *gen) emitContext() {
	b := g.b
	b.emit(asm.Mov.Reg(regCtx, asm.R1))
	switch g.fl {
	case ir.FlavourXDP:
		b.emit(asm.FnXdpGetBuffLen.Call(), asm.Mov.Reg(regLen, asm.R0), asm.Mov.Imm(regL3, 0))
	case ir.FlavourTC:
		b.emit(asm.LoadMem(regLen, regCtx, skbLen, asm.Word), asm.Mov.Imm(regL3, 0))
	case ir.FlavourCgroupSkb:
		b.emit(
			asm.LoadMem(regLen, regCtx, skbLen, asm.Word),
			asm.LoadMem(regL3, regCtx, skbProtocol, asm.Word),
			asm.HostTo(asm.BE, regL3, asm.Half),
		)
	case ir.FlavourNF:
		v4, done := b.fresh("nf_pf_v4"), b.fresh("nf_pf_done")
		b.emit(
			asm.LoadMem(asm.R1, regCtx, nfCtxSkb, asm.DWord),
			asm.Mov.Imm(asm.R2, 0),
			asm.Mov.Reg(asm.R3, asm.R10),
			asm.Add.Imm(asm.R3, stackDynptr),
			g.nf.dynptrFromSkb,
		)
		g.verboseCall("bpf_dynptr_from_skb", failNonZero)
		b.emit(
			asm.LoadMem(asm.R1, regCtx, nfCtxSkb, asm.DWord),
			asm.LoadMem(regLen, asm.R1, g.nf.skbLen, asm.Word),
			asm.LoadMem(asm.R1, regCtx, nfCtxState, asm.DWord),
			asm.LoadMem(asm.R1, asm.R1, g.nf.statePf, asm.Byte),
			asm.Mov.Imm(regL3, 0),
			asm.JEq.Imm(asm.R1, nfprotoIPv4, v4),
			asm.JNE.Imm(asm.R1, nfprotoIPv6, done),
			asm.Mov.Imm(regL3, ir.EthPIPv6),
			asm.Ja.Label(done),
		)
		b.label(v4)
		b.emit(asm.Mov.Imm(regL3, ir.EthPIP))
		b.label(done)
	case ir.FlavourCgroupSockAddr:
		b.emit(asm.Mov.Imm(regLen, 0))
	}
}

// emitIface loads meta.iface into dst.
func (g *gen) emitIface(dst asm.Register) {
	switch g.fl {
	case ir.FlavourXDP:
		g.b.emit(asm.LoadMem(dst, regCtx, xdpIngressIfindex, asm.Word))
	case ir.FlavourTC, ir.FlavourCgroupSkb:
		// On ingress, the device the packet arrived on (skb->skb_iif),
		// which stays set when the stack clears skb->dev; on egress, the
		// output device.
		off := int16(skbIfindex)
		if g.hook.Ingress() {
			off = skbIngressIfindex
		}
		g.b.emit(asm.LoadMem(dst, regCtx, off, asm.Word))
	case ir.FlavourNF:
		dev := g.nf.stateOut
		if g.hook.Ingress() {
			dev = g.nf.stateIn
		}
		g.b.emit(
			asm.LoadMem(dst, regCtx, nfCtxState, asm.DWord),
			asm.LoadMem(dst, dst, dev, asm.DWord),
			asm.LoadMem(dst, dst, g.nf.devIfindex, asm.Word),
		)
	}
}

// emitMark loads meta.mark into dst.
func (g *gen) emitMark(dst asm.Register) {
	switch g.fl {
	case ir.FlavourTC, ir.FlavourCgroupSkb:
		g.b.emit(asm.LoadMem(dst, regCtx, skbMark, asm.Word))
	case ir.FlavourNF:
		g.b.emit(
			asm.LoadMem(dst, regCtx, nfCtxSkb, asm.DWord),
			asm.LoadMem(dst, dst, g.nf.skbMark, asm.Word),
		)
	}
}

// emitSetMark writes skb->mark.
func (g *gen) emitSetMark(v uint32) {
	g.b.emit(
		asm.Mov.Imm32(asm.R1, int32(v)),
		asm.StoreMem(regCtx, skbMark, asm.R1, asm.Word),
	)
}

// Pseudo return codes that tell the exit block to redirect.
const (
	codeRedirectOut = 100
	codeRedirectIn  = 101
)

// lblFinish is the shared exit block.
const lblFinish = "finish"

// emitVerdict ends the program with verdict v, counted in counter slot
// slot: it stores the slot and the return code and jumps to the shared
// exit block (emitFinish). One shared counter update keeps the verifier's
// work linear in the number of rules: a map lookup call per rule makes
// verification time grow quadratically.
func (g *gen) emitVerdict(v ir.Verdict, slot int) error {
	b := g.b
	var code int32
	if v.Kind == ir.Redirect {
		code = codeRedirectOut
		if v.Dir == ir.DirIn {
			code = codeRedirectIn
		}
		b.emit(asm.StoreImm(asm.R10, stackRedirect, int64(int32(v.Ifindex)), asm.Word))
	} else {
		var err error
		if code, err = g.verdictCode(v.Kind); err != nil {
			return err
		}
	}
	b.emit(
		asm.StoreImm(asm.R10, stackScratch, int64(slot), asm.Word),
		asm.Mov.Imm(regL3, code),
		// gotol: the exit block may be more than 32767 instructions away.
		asm.LongJump(lblFinish),
	)
	return nil
}

// emitFinish emits the exit block: count the packet in the slot stored at
// stackScratch, then return the code in regL3 (or redirect).
func (g *gen) emitFinish() {
	b := g.b
	b.label(lblFinish)
	b.comment("exit: count and return")
	g.emitCountStored()
	if g.fl == ir.FlavourXDP || g.fl == ir.FlavourTC {
		in := b.fresh("redirect_in")
		b.emit(
			asm.JEq.Imm(regL3, codeRedirectIn, in),
			asm.JNE.Imm(regL3, codeRedirectOut, "return"),
			asm.Mov.Imm(asm.R2, 0),
			asm.Ja.Label("redirect"),
		)
		b.label(in)
		b.emit(asm.Mov.Imm(asm.R2, bpfFIngress))
		b.label("redirect")
		b.emit(
			asm.LoadMem(asm.R1, asm.R10, stackRedirect, asm.Word),
			asm.FnRedirect.Call(),
		)
		g.verboseCallCode("bpf_redirect", failNonZero, g.redirectCode())
		b.emit(asm.Return())
	}
	b.label("return")
	b.emit(asm.Mov.Reg(asm.R0, regL3), asm.Return())
}

func (g *gen) verdictCode(k ir.VerdictKind) (int32, error) {
	if k != ir.Accept && k != ir.Drop && k != ir.Next {
		return 0, fmt.Errorf("verdict %s is not supported by the backend yet", k)
	}
	drop := k == ir.Drop
	switch g.fl {
	case ir.FlavourXDP:
		if drop {
			return xdpDrop, nil
		}
		return xdpPass, nil
	case ir.FlavourTC:
		switch k {
		case ir.Drop:
			return tcxDrop, nil
		case ir.Next:
			return tcxNext, nil
		}
		return tcxPass, nil
	case ir.FlavourNF:
		if drop {
			return nfDrop, nil
		}
		return nfAccept, nil
	}
	if drop {
		return 0, nil
	}
	return 1, nil
}
