package backend

import (
	"github.com/cilium/ebpf/btf"
)

// pktOffsets are the kernel struct offsets meta.pkttype and eth.saddr
// read on netfilter hooks (-1: the kernel lacks the member).
type pktOffsets struct {
	// pktTypeByte is the byte of struct sk_buff holding the 3-bit
	// pkt_type bitfield, pktTypeShift its lowest bit in that byte.
	pktTypeByte  int16
	pktTypeShift uint8
	// skb->dev, dev->type, skb->head, skb->data, skb->mac_header.
	skbDev, devType, skbHead, skbData, skbMacHeader int16
}

func (o *pktOffsets) macOK() bool {
	return o.skbDev >= 0 && o.devType >= 0 && o.skbHead >= 0 && o.skbData >= 0 && o.skbMacHeader >= 0
}

// resolvePktMatch reads the offsets from the kernel's BTF.
func resolvePktMatch(spec *btf.Spec) pktOffsets {
	o := pktOffsets{pktTypeByte: -1}
	var skb *btf.Struct
	if err := spec.TypeByName("sk_buff", &skb); err == nil {
		// pkt_type is a little-endian bitfield: bit k of the struct is
		// bit k%8 of byte k/8 (the backend targets little-endian hosts
		// only, as the native loads of header fields assume).
		if bits, size, ok := findBitfield(skb.Members, "pkt_type", 0); ok && size == 3 && bits%8 <= 5 {
			o.pktTypeByte, o.pktTypeShift = int16(bits/8), uint8(bits%8)
		}
	}
	for _, x := range []struct {
		typ, member string
		dst         *int16
	}{
		{"sk_buff", "dev", &o.skbDev},
		{"net_device", "type", &o.devType},
		{"sk_buff", "head", &o.skbHead},
		{"sk_buff", "data", &o.skbData},
		{"sk_buff", "mac_header", &o.skbMacHeader},
	} {
		*x.dst = -1
		if off, err := memberOffset(spec, x.typ, x.member); err == nil {
			*x.dst = off
		}
	}
	return o
}

// findBitfield returns the bit offset (from the start of the outermost
// struct, base included) and the bitfield size of member name, looking
// into anonymous structs and unions.
func findBitfield(ms []btf.Member, name string, base uint32) (bits, size uint32, ok bool) {
	m, bits, ok := lookupMember(ms, name, base)
	return bits, uint32(m.BitfieldSize), ok
}
