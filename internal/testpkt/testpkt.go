// Package testpkt builds test packets readably: each header is a struct
// whose Encode method wraps a payload, so tests read like the packet they
// send.
//
//	frame := testpkt.Ethernet(testpkt.EthIPv4, testpkt.IPv4{
//		Src: testpkt.Addr("198.18.0.1"), Dst: testpkt.Addr("198.18.0.2"), Proto: 6,
//	}.Encode(testpkt.TCP{Sport: 1234, Dport: 22, Flags: testpkt.SYN}.Encode()))
package testpkt

import (
	"encoding/binary"
	"net/netip"
)

// EtherTypes.
const (
	EthIPv4 = 0x0800
	EthIPv6 = 0x86DD
	EthARP  = 0x0806
)

// IP protocol numbers.
const (
	ProtoICMP   = 1
	ProtoTCP    = 6
	ProtoUDP    = 17
	ProtoICMPv6 = 58
)

// TCP flags.
const (
	FIN = 1 << iota
	SYN
	RST
	PSH
	ACK
	URG
	ECE
	CWR
)

// Addr parses an IP address and panics on error (test literals only).
func Addr(s string) netip.Addr { return netip.MustParseAddr(s) }

// Default MAC addresses of Ethernet frames.
var (
	SrcMAC = [6]byte{0x02, 0, 0, 0, 0, 0x01}
	DstMAC = [6]byte{0x02, 0, 0, 0, 0, 0x02}
)

// Ethernet prepends an Ethernet header with the default MACs.
func Ethernet(etherType uint16, payload []byte) []byte {
	b := make([]byte, 14, 14+len(payload))
	copy(b[0:6], DstMAC[:])
	copy(b[6:12], SrcMAC[:])
	binary.BigEndian.PutUint16(b[12:14], etherType)
	return append(b, payload...)
}

// IPv4 is an IPv4 header.
type IPv4 struct {
	Src, Dst netip.Addr
	Proto    uint8
	// TOS holds DSCP (upper 6 bits) and ECN.
	TOS uint8
	TTL uint8
	// FragOffset is in 8-byte units; MoreFragments sets MF.
	FragOffset    uint16
	MoreFragments bool
	// Options are appended to the 20-byte header (a multiple of 4 bytes).
	Options []byte
	// ID is the identification field.
	ID uint16
}

// Encode returns the header (with checksum) followed by payload.
func (h IPv4) Encode(payload []byte) []byte {
	hl := 20 + len(h.Options)
	b := make([]byte, hl, hl+len(payload))
	b[0] = 4<<4 | byte(hl/4)
	b[1] = h.TOS
	binary.BigEndian.PutUint16(b[2:4], uint16(hl+len(payload)))
	binary.BigEndian.PutUint16(b[4:6], h.ID)
	frag := h.FragOffset & 0x1fff
	if h.MoreFragments {
		frag |= 0x2000
	}
	binary.BigEndian.PutUint16(b[6:8], frag)
	b[8] = h.TTL
	if b[8] == 0 {
		b[8] = 64
	}
	b[9] = h.Proto
	src, dst := h.Src.As4(), h.Dst.As4()
	copy(b[12:16], src[:])
	copy(b[16:20], dst[:])
	copy(b[20:], h.Options)
	binary.BigEndian.PutUint16(b[10:12], checksum(b))
	return append(b, payload...)
}

// IPv6 is an IPv6 header with optional extension headers.
type IPv6 struct {
	Src, Dst netip.Addr
	// NextHdr is the protocol after the extension headers.
	NextHdr      uint8
	TrafficClass uint8
	HopLimit     uint8
	Ext          []Ext
}

// Ext is an IPv6 extension header.
type Ext struct {
	// Type is 0 (hop-by-hop), 43 (routing), 44 (fragment), 51 (AH) or 60
	// (destination options).
	Type uint8
	// Len is the header length field: in 8-byte units beyond the first 8
	// bytes (generic headers), or in 4-byte units minus 2 (AH).
	Len uint8
	// FragOffset (8-byte units) and MoreFragments for fragment headers.
	FragOffset    uint16
	MoreFragments bool
}

// size returns the encoded size of the extension header.
func (e Ext) size() int {
	switch e.Type {
	case 44:
		return 8
	case 51:
		return (int(e.Len) + 2) * 4
	}
	return (int(e.Len) + 1) * 8
}

// Encode returns the header, the extension headers and payload.
func (h IPv6) Encode(payload []byte) []byte {
	var ext []byte
	for i, e := range h.Ext {
		next := h.NextHdr
		if i+1 < len(h.Ext) {
			next = h.Ext[i+1].Type
		}
		x := make([]byte, e.size())
		x[0] = next
		if e.Type == 44 {
			v := e.FragOffset << 3
			if e.MoreFragments {
				v |= 1
			}
			binary.BigEndian.PutUint16(x[2:4], v)
		} else {
			x[1] = e.Len
		}
		ext = append(ext, x...)
	}
	first := h.NextHdr
	if len(h.Ext) > 0 {
		first = h.Ext[0].Type
	}
	b := make([]byte, 40, 40+len(ext)+len(payload))
	binary.BigEndian.PutUint32(b[0:4], 6<<28|uint32(h.TrafficClass)<<20)
	binary.BigEndian.PutUint16(b[4:6], uint16(len(ext)+len(payload)))
	b[6] = first
	b[7] = h.HopLimit
	if b[7] == 0 {
		b[7] = 64
	}
	src, dst := h.Src.As16(), h.Dst.As16()
	copy(b[8:24], src[:])
	copy(b[24:40], dst[:])
	b = append(b, ext...)
	return append(b, payload...)
}

// TCP is a TCP header.
type TCP struct {
	Sport, Dport uint16
	Flags        uint8
	Seq, Ack     uint32
	Window       uint16
	// Options follow the header; the data offset counts them rounded up
	// to 4 bytes (padding bytes are 0). DataOffset, when not 0, is
	// written instead (for malformed headers).
	Options    []byte
	DataOffset uint8
}

// Encode returns the header and options followed by payload (checksum left 0).
func (h TCP) Encode(payload ...byte) []byte {
	ol := (len(h.Options) + 3) &^ 3
	b := make([]byte, 20+ol, 20+ol+len(payload))
	copy(b[20:], h.Options)
	binary.BigEndian.PutUint16(b[0:2], h.Sport)
	binary.BigEndian.PutUint16(b[2:4], h.Dport)
	binary.BigEndian.PutUint32(b[4:8], h.Seq)
	binary.BigEndian.PutUint32(b[8:12], h.Ack)
	b[12] = byte(5+ol/4) << 4
	if h.DataOffset != 0 {
		b[12] = h.DataOffset << 4
	}
	b[13] = h.Flags
	binary.BigEndian.PutUint16(b[14:16], h.Window)
	return append(b, payload...)
}

// UDP is a UDP header.
type UDP struct {
	Sport, Dport uint16
}

// Encode returns the 8-byte header followed by payload (checksum left 0).
func (h UDP) Encode(payload ...byte) []byte {
	b := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(b[0:2], h.Sport)
	binary.BigEndian.PutUint16(b[2:4], h.Dport)
	binary.BigEndian.PutUint16(b[4:6], uint16(8+len(payload)))
	return append(b, payload...)
}

// ICMP is an ICMP or ICMPv6 header.
type ICMP struct {
	Type, Code uint8
}

// Encode returns the 8-byte echo-style header followed by payload.
func (h ICMP) Encode(payload ...byte) []byte {
	b := make([]byte, 8, 8+len(payload))
	b[0], b[1] = h.Type, h.Code
	return append(b, payload...)
}

// Truncate returns the first n bytes of b (all of b when shorter).
func Truncate(b []byte, n int) []byte {
	if n > len(b) {
		n = len(b)
	}
	return append([]byte(nil), b[:n]...)
}

func checksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
