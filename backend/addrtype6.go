package backend

import (
	"encoding/binary"

	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// IPv6 address type lookups (ip6tables -m addrtype LOCAL, ANYCAST,
// UNREACHABLE; semantics in ir/addrtype6.go).
//
// AddrType6Map is an LPM trie of the ir.AddrTypes6 entries, filled by
// engine/localroutes: key {prefixlen u32 (32 + the entry's length),
// limiting device ifindex u32, address [16]byte}, value the lookup bits
// (u16, native endian, then padding). The device is matched exactly (its
// 32 bits are always part of the prefix); a miss answers UNREACHABLE.

// AddrType6Map is the name of the IPv6 address type lookup map.
const AddrType6Map = "bf_addrtype6"

// AddrType6MapEntries is the capacity of AddrType6Map.
const AddrType6MapEntries = 65536

// addrType6KeyLen is the size of an AddrType6Map key.
const addrType6KeyLen = 24

// AddrType6Key returns the AddrType6Map key of an entry.
func AddrType6Key(e ir.AddrType6Entry) []byte {
	k := make([]byte, addrType6KeyLen)
	binary.NativeEndian.PutUint32(k, 32+uint32(e.Len))
	binary.NativeEndian.PutUint32(k[4:], e.Dev)
	copy(k[8:], andBytes(e.Addr[:], ir.PrefixMask(int(e.Len), 16)))
	return k
}

// AddrType6Value returns the AddrType6Map value of an entry.
func AddrType6Value(e ir.AddrType6Entry) []byte {
	v := make([]byte, 4)
	binary.NativeEndian.PutUint16(v, e.Types)
	return v
}

func addrType6MapSpec() *ebpf.MapSpec {
	return &ebpf.MapSpec{
		Name:       AddrType6Map,
		Type:       ebpf.LPMTrie,
		KeySize:    addrType6KeyLen,
		ValueSize:  4,
		MaxEntries: AddrType6MapEntries,
		Flags:      bpfFNoPrealloc,
	}
}

// emitAddrType6Lookup leaves the lookup bits of the IPv6 address at stack
// offset off6 in R5, for limiting device limit. It clobbers R0-R5.
func (g *gen) emitAddrType6Lookup(off6 int16, limit ir.AddrTypeIface) {
	b := g.b
	key := keyOffset(addrType6KeyLen)
	miss := b.fresh("atype6_miss")
	b.emit(asm.StoreImm(asm.R10, key, 32+128, asm.Word))
	if limit == ir.AddrTypeNoLimit {
		b.emit(asm.StoreImm(asm.R10, key+4, 0, asm.Word))
	} else {
		dev := g.nf.stateIn
		if limit == ir.AddrTypeLimitOut {
			dev = g.nf.stateOut
		}
		b.emit(
			asm.LoadMem(asm.R3, regCtx, nfCtxState, asm.DWord),
			asm.LoadMem(asm.R3, asm.R3, dev, asm.DWord),
			asm.LoadMem(asm.R3, asm.R3, g.nf.devIfindex, asm.Word),
			asm.StoreMem(asm.R10, key+4, asm.R3, asm.Word),
		)
	}
	b.emit(
		asm.LoadMem(asm.R2, asm.R10, off6, asm.DWord),
		asm.StoreMem(asm.R10, key+8, asm.R2, asm.DWord),
		asm.LoadMem(asm.R2, asm.R10, off6+8, asm.DWord),
		asm.StoreMem(asm.R10, key+16, asm.R2, asm.DWord),
	)
	b.emit(mapLookup(AddrType6Map, int32(key))...)
	b.emit(
		asm.Mov.Imm(asm.R5, 1<<ir.RTNUnreachable),
		asm.JEq.Imm(asm.R0, 0, miss),
		asm.LoadMem(asm.R5, asm.R0, 0, asm.Half),
	)
	b.label(miss)
}
