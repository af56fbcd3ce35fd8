package abi

import (
	"bytes"
	"encoding/binary"
	"net/netip"
)

var ne = binary.NativeEndian

// cString reads a NUL-terminated string from a fixed-size field.
func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return string(b[:i])
	}
	return string(b)
}

// putCString writes s into the fixed-size field b, NUL padded.
func putCString(b []byte, s string) {
	clear(b)
	copy(b, s)
}

func addrOrZero(a netip.Addr, fam Family) []byte {
	if fam == IPv6 {
		if a.Is6() {
			s := a.As16()
			return s[:]
		}
		return make([]byte, 16)
	}
	if a.Is4() {
		s := a.As4()
		return s[:]
	}
	return make([]byte, 4)
}

// marshalIP writes the ipt_ip / ip6t_ip6 part of an entry into b.
func (h *IPHeader) marshal(b []byte, fam Family) {
	if fam == IPv6 {
		copy(b[0:16], addrOrZero(h.Src, fam))
		copy(b[16:32], addrOrZero(h.Dst, fam))
		copy(b[32:48], addrOrZero(h.SrcMask, fam))
		copy(b[48:64], addrOrZero(h.DstMask, fam))
		putCString(b[64:80], h.InIface)
		putCString(b[80:96], h.OutIface)
		copy(b[96:112], h.InIfaceMask[:])
		copy(b[112:128], h.OutIfaceMask[:])
		ne.PutUint16(b[128:], h.Proto)
		b[130] = h.TOS
		b[131] = h.Flags
		b[132] = h.InvFlags
		return
	}
	copy(b[0:4], addrOrZero(h.Src, fam))
	copy(b[4:8], addrOrZero(h.Dst, fam))
	copy(b[8:12], addrOrZero(h.SrcMask, fam))
	copy(b[12:16], addrOrZero(h.DstMask, fam))
	putCString(b[16:32], h.InIface)
	putCString(b[32:48], h.OutIface)
	copy(b[48:64], h.InIfaceMask[:])
	copy(b[64:80], h.OutIfaceMask[:])
	ne.PutUint16(b[80:], h.Proto)
	b[82] = h.Flags
	b[83] = h.InvFlags
}

// unmarshalIP reads the ipt_ip / ip6t_ip6 part of an entry.
func unmarshalIP(b []byte, fam Family) IPHeader {
	var h IPHeader
	if fam == IPv6 {
		h.Src = netip.AddrFrom16([16]byte(b[0:16]))
		h.Dst = netip.AddrFrom16([16]byte(b[16:32]))
		h.SrcMask = netip.AddrFrom16([16]byte(b[32:48]))
		h.DstMask = netip.AddrFrom16([16]byte(b[48:64]))
		h.InIface = cString(b[64:80])
		h.OutIface = cString(b[80:96])
		h.InIfaceMask = [IfNameLen]byte(b[96:112])
		h.OutIfaceMask = [IfNameLen]byte(b[112:128])
		h.Proto = ne.Uint16(b[128:])
		h.TOS = b[130]
		h.Flags = b[131]
		h.InvFlags = b[132]
		return h
	}
	h.Src = netip.AddrFrom4([4]byte(b[0:4]))
	h.Dst = netip.AddrFrom4([4]byte(b[4:8]))
	h.SrcMask = netip.AddrFrom4([4]byte(b[8:12]))
	h.DstMask = netip.AddrFrom4([4]byte(b[12:16]))
	h.InIface = cString(b[16:32])
	h.OutIface = cString(b[32:48])
	h.InIfaceMask = [IfNameLen]byte(b[48:64])
	h.OutIfaceMask = [IfNameLen]byte(b[64:80])
	h.Proto = ne.Uint16(b[80:])
	h.Flags = b[82]
	h.InvFlags = b[83]
	return h
}

// Unconditional tells whether the header matches every packet: all fields
// zero, like the kernel's unconditional().
func (h *IPHeader) Unconditional(fam Family) bool {
	b := make([]byte, IPv6HeaderSize)
	h.marshal(b, fam)
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// entryOffsets returns the offsets of nfcache, target_offset, next_offset,
// comefrom and counters inside an entry of the family.
func entryOffsets(fam Family) (nfcache, targetOff, nextOff, comeFrom, counters int) {
	if fam == IPv6 {
		return v6OffNFCache, v6OffTargetOffset, v6OffNextOffset, v6OffComeFrom, v6OffCounters
	}
	return v4OffNFCache, v4OffTargetOffset, v4OffNextOffset, v4OffComeFrom, v4OffCounters
}
