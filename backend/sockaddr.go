package backend

import (
	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/cilium/ebpf/asm"
)

// emitSockAddr fills the header buffers from struct bpf_sock_addr, so that
// matchers read socket addresses exactly as they read packet headers: the
// destination (and, on sendmsg, source) address at their IPv4 or IPv6
// header offsets, the protocol at the IPv4 protocol offset and the
// destination port at the transport destination port offset. It mirrors
// the sock_addr part of ir.FieldValue.
func (g *gen) emitSockAddr() {
	b := g.b
	if g.hook.SockAddrFamily() == 4 {
		b.emit(
			asm.Mov.Imm(regL3, ir.EthPIP|l3Present),
			asm.LoadMem(asm.R1, regCtx, saUserIP4, asm.Word),
			asm.StoreMem(asm.R10, stackL3+16, asm.R1, asm.Word),
		)
		if g.hook.IsSendmsg() {
			b.emit(
				asm.LoadMem(asm.R1, regCtx, saMsgSrcIP4, asm.Word),
				asm.StoreMem(asm.R10, stackL3+12, asm.R1, asm.Word),
			)
		}
	} else {
		b.emit(asm.Mov.Imm(regL3, ir.EthPIPv6|l3Present))
		for i := int16(0); i < 16; i += 4 {
			b.emit(
				asm.LoadMem(asm.R1, regCtx, saUserIP6+i, asm.Word),
				asm.StoreMem(asm.R10, stackL3+24+i, asm.R1, asm.Word),
			)
			if g.hook.IsSendmsg() {
				b.emit(
					asm.LoadMem(asm.R1, regCtx, saMsgSrcIP6+i, asm.Word),
					asm.StoreMem(asm.R10, stackL3+8+i, asm.R1, asm.Word),
				)
			}
		}
	}
	noProto := b.fresh("sa_no_proto")
	b.emit(
		// user_port holds the port in network byte order.
		asm.LoadMem(asm.R1, regCtx, saUserPort, asm.Word),
		asm.StoreMem(asm.R10, stackL4+2, asm.R1, asm.Half),
		asm.LoadMem(regL4, regCtx, saProtocol, asm.Word),
	)
	if g.hook.SockAddrFamily() == 4 {
		// ip4.proto reads the IPv4 protocol byte.
		b.emit(asm.StoreMem(asm.R10, stackL3+9, regL4, asm.Byte))
	}
	b.emit(
		// Protocols beyond 255 (IPPROTO_MPTCP) have no IR value.
		asm.JGT.Imm(regL4, 255, noProto),
		asm.Or.Imm(regL4, l4Known|l4Present),
		asm.Ja.Label(lblParsed),
	)
	b.label(noProto)
	b.emit(asm.Mov.Imm(regL4, 0))
	b.label(lblParsed)
}
