package backend

import (
	"encoding/binary"
	"fmt"

	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// Address type fields (iptables -m addrtype; semantics in ir/addrtype.go).
//
// A netfilter program cannot call bpf_fib_lookup, so the IPv4 lookup goes
// to AddrTypeMap, an LPM trie that mirrors the routes the kernel's
// inet_dev_addr_type sees (filled and kept in sync by engine/localroutes):
// key {prefixlen u32, address [4]byte big-endian}, value AddrTypeValue.
// The IPv6 field is the address class, computed from the address bytes,
// ORed with the route lookup's bits from AddrType6Map (addrtype6.go).

// AddrTypeMap is the name of the address type lookup map.
const AddrTypeMap = "bf_addrtype"

// AddrTypeMapEntries is the capacity of AddrTypeMap.
const AddrTypeMapEntries = 65536

// AddrTypeKey returns the AddrTypeMap key of a route.
func AddrTypeKey(r ir.LocalRoute) []byte {
	k := make([]byte, 8)
	binary.NativeEndian.PutUint32(k, uint32(r.Len))
	copy(k[4:], andBytes(r.Addr[:], ir.PrefixMask(int(r.Len), 4)))
	return k
}

// AddrTypeValue returns the AddrTypeMap value of a route: the route type
// (u8), three bytes of padding, the nexthop ifindex (u32, native endian).
func AddrTypeValue(r ir.LocalRoute) []byte {
	v := make([]byte, 8)
	v[0] = r.Type
	binary.NativeEndian.PutUint32(v[4:], r.Ifindex)
	return v
}

func addrTypeMapSpec() *ebpf.MapSpec {
	return &ebpf.MapSpec{
		Name:       AddrTypeMap,
		Type:       ebpf.LPMTrie,
		KeySize:    8,
		ValueSize:  8,
		MaxEntries: AddrTypeMapEntries,
		Flags:      bpfFNoPrealloc,
	}
}

// addAddrTypeMap adds AddrTypeMap and AddrType6Map to spec when the program reads it.
func (g *gen) addAddrTypeMap(spec *ebpf.CollectionSpec) {
	if g.addrTypeUsed {
		spec.Maps[AddrTypeMap] = addrTypeMapSpec()
		spec.Maps[AddrType6Map] = addrType6MapSpec()
	}
}

// emitAddrType loads the address type bits of field f into dst (not R0,
// R2-R5, which it uses). The rule guard ensures a network header.
func (g *gen) emitAddrType(f ir.Field, dst asm.Register) error {
	src, limit, ok := f.AddrTypeSpec()
	if !ok {
		return fmt.Errorf("%s is not an address type field", f)
	}
	if g.fl != ir.FlavourNF || g.nf == nil {
		return fmt.Errorf("matcher %s is only supported on netfilter hooks", f)
	}
	if dst == asm.R0 || (dst >= asm.R2 && dst <= asm.R5) {
		return fmt.Errorf("matcher %s: cannot load into %s", f, dst)
	}
	g.addrTypeUsed = true
	b := g.b
	v6, end := b.fresh("atype_v6"), b.fresh("atype_end")
	bcast, mcast, done := b.fresh("atype_bcast"), b.fresh("atype_mcast"), b.fresh("atype_done")
	off4, off6 := int16(stackL3+16), int16(stackL3+24)
	if src {
		off4, off6 = stackL3+12, stackL3+8
	}
	key := keyOffset(8)
	b.emit(
		asm.Mov.Reg(asm.R2, regL3),
		asm.And.Imm(asm.R2, 0xffff),
		asm.JEq.Imm(asm.R2, ir.EthPIPv6, v6),
		// IPv4: zeronet and limited broadcast, multicast, then the table.
		asm.LoadMem(asm.R2, asm.R10, off4, asm.Word),
		asm.Mov.Reg(asm.R3, asm.R2),
		asm.HostTo(asm.BE, asm.R3, asm.Word),
		asm.Mov.Reg(asm.R4, asm.R3),
		asm.RSh.Imm32(asm.R4, 24),
		asm.JEq.Imm(asm.R4, 0, bcast),
		asm.JEq.Imm32(asm.R3, -1, bcast),
		asm.And.Imm(asm.R4, 0xf0),
		asm.JEq.Imm(asm.R4, 0xe0, mcast),
		asm.StoreImm(asm.R10, key, 32, asm.Word),
		asm.StoreMem(asm.R10, key+4, asm.R2, asm.Word),
	)
	b.emit(mapLookup(AddrTypeMap, int32(key))...)
	b.emit(
		asm.Mov.Imm(asm.R5, ir.RTNUnicast),
		asm.JEq.Imm(asm.R0, 0, done),
	)
	if limit != ir.AddrTypeNoLimit {
		// inet_dev_addr_type with a device: the route's type only when
		// its nexthop device is that device (no device: no limit).
		dev := g.nf.stateIn
		if limit == ir.AddrTypeLimitOut {
			dev = g.nf.stateOut
		}
		take := b.fresh("atype_take")
		b.emit(
			asm.LoadMem(asm.R3, regCtx, nfCtxState, asm.DWord),
			asm.LoadMem(asm.R3, asm.R3, dev, asm.DWord),
			asm.LoadMem(asm.R3, asm.R3, g.nf.devIfindex, asm.Word),
			asm.LoadMem(asm.R4, asm.R0, 4, asm.Word),
			asm.JEq.Imm(asm.R3, 0, take),
			asm.JNE.Reg(asm.R4, asm.R3, done),
		)
		b.label(take)
	}
	b.emit(
		asm.LoadMem(asm.R5, asm.R0, 0, asm.Byte),
		asm.Ja.Label(done),
	)
	b.label(bcast)
	b.emit(asm.Mov.Imm(asm.R5, ir.RTNBroadcast), asm.Ja.Label(done))
	b.label(mcast)
	b.emit(asm.Mov.Imm(asm.R5, ir.RTNMulticast))
	b.label(done)
	b.emit(
		asm.Mov.Imm(dst, 1),
		asm.LSh.Reg(dst, asm.R5),
		asm.Ja.Label(end),
	)
	// IPv6: the route lookup's bits (R5, addrtype6.go), then
	// ipv6_addr_type's class ORed with them.
	uni6, mc6, notZero, or6 := b.fresh("atype_uni6"), b.fresh("atype_mc6"), b.fresh("atype_w2"), b.fresh("atype_or6")
	b.label(v6)
	g.emitAddrType6Lookup(off6, limit)
	b.emit(
		asm.LoadMem(asm.R2, asm.R10, off6, asm.Byte),
		asm.JEq.Imm(asm.R2, 0xff, mc6),
		asm.LoadMem(asm.R2, asm.R10, off6, asm.DWord),
		asm.JNE.Imm(asm.R2, 0, uni6),
		asm.LoadMem(asm.R3, asm.R10, off6+8, asm.Word),
		asm.LoadMem(asm.R4, asm.R10, off6+12, asm.Word),
		asm.JNE.Imm(asm.R3, 0, notZero),
		asm.JNE.Imm(asm.R4, 0, uni6),
		asm.Mov.Imm(dst, 1<<ir.RTNUnspec),
		asm.Ja.Label(or6),
	)
	b.label(notZero)
	b.emit(
		asm.Mov.Imm(dst, 0),
		asm.JEq.Imm32(asm.R3, int32(uint32(nativeUint([]byte{0, 0, 0xff, 0xff}))), or6),
	)
	b.label(uni6)
	b.emit(asm.Mov.Imm(dst, 1<<ir.RTNUnicast), asm.Ja.Label(or6))
	b.label(mc6)
	b.emit(asm.Mov.Imm(dst, 1<<ir.RTNMulticast))
	b.label(or6)
	b.emit(asm.Or.Reg(dst, asm.R5))
	b.label(end)
	return nil
}
