package iptdiff

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
)

// probe is one test packet: the network-layer bytes and the marker in
// its payload that identifies it at the receiver.
type probe struct {
	desc   string
	v6     bool
	ip     []byte
	marker []byte
	// dstMAC picks the frame's destination (pktmatch_test.go; 0: the
	// receiving interface's own address); srcMAC replaces the sender's
	// address when set.
	dstMAC macKind
	srcMAC []byte
}

// Addresses of the pair: the sender S (.1) and the receiver R (.2, with
// extra addresses .3-.6 so destination matches have something to choose).
var (
	senderV4 = netip.MustParseAddr("198.18.0.1")
	recvV4   = netip.MustParseAddr("198.18.0.2")
	senderV6 = netip.MustParseAddr("fd00:198:18:0::1")
	recvV6   = netip.MustParseAddr("fd00:198:18:0::2")
)

func markerFor(id uint32) []byte {
	m := []byte("BFDIFF\x00\x00\x00\x00")
	binary.BigEndian.PutUint32(m[6:], id)
	return m
}

func csum(b []byte, sum uint32) uint16 {
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// l4 builds a transport header and payload with a valid checksum.
type l4 struct {
	proto        uint8
	sport, dport uint16
	tcpFlags     uint8
	icmpType     uint8
	icmpCode     uint8
	// tcpOpts follow the TCP header (a multiple of 4 bytes); tcpDoff,
	// when not 0, is written as the data offset instead (malformed
	// headers).
	tcpOpts []byte
	tcpDoff uint8
}

func (h l4) encode(src, dst netip.Addr, payload []byte) []byte {
	var b []byte
	ck := 0
	switch h.proto {
	case 6:
		b = make([]byte, 20, 20+len(h.tcpOpts))
		binary.BigEndian.PutUint16(b[0:], h.sport)
		binary.BigEndian.PutUint16(b[2:], h.dport)
		binary.BigEndian.PutUint32(b[4:], 1000)
		b[12] = byte(5+len(h.tcpOpts)/4) << 4
		if h.tcpDoff != 0 {
			b[12] = h.tcpDoff << 4
		}
		b = append(b, h.tcpOpts...)
		b[13] = h.tcpFlags
		binary.BigEndian.PutUint16(b[14:], 65535)
		ck = 16
	case 17:
		b = make([]byte, 8)
		binary.BigEndian.PutUint16(b[0:], h.sport)
		binary.BigEndian.PutUint16(b[2:], h.dport)
		binary.BigEndian.PutUint16(b[4:], uint16(8+len(payload)))
		ck = 6
	default: // ICMP, ICMPv6
		b = make([]byte, 8)
		b[0], b[1] = h.icmpType, h.icmpCode
		ck = 2
	}
	b = append(b, payload...)
	var sum uint32
	if h.proto != 1 { // pseudo header (ICMPv4 has none)
		for _, a := range [][]byte{src.AsSlice(), dst.AsSlice()} {
			for i := 0; i < len(a); i += 2 {
				sum += uint32(binary.BigEndian.Uint16(a[i:]))
			}
		}
		sum += uint32(h.proto) + uint32(len(b))
	}
	binary.BigEndian.PutUint16(b[ck:], csum(b, sum))
	if h.proto == 17 && binary.BigEndian.Uint16(b[ck:]) == 0 {
		binary.BigEndian.PutUint16(b[ck:], 0xffff)
	}
	return b
}

// ipPacket wraps a transport segment in an IPv4 or IPv6 header.
func ipPacket(src, dst netip.Addr, proto, ttl uint8, seg []byte) []byte {
	if src.Is4() {
		b := make([]byte, 20, 20+len(seg))
		b[0] = 0x45
		binary.BigEndian.PutUint16(b[2:], uint16(20+len(seg)))
		binary.BigEndian.PutUint16(b[4:], uint16(rand.Uint32()))
		b[8], b[9] = ttl, proto
		copy(b[12:16], src.AsSlice())
		copy(b[16:20], dst.AsSlice())
		binary.BigEndian.PutUint16(b[10:], csum(b, 0))
		return append(b, seg...)
	}
	b := make([]byte, 40, 40+len(seg))
	b[0] = 0x60
	binary.BigEndian.PutUint16(b[4:], uint16(len(seg)))
	b[6], b[7] = proto, ttl
	copy(b[8:24], src.AsSlice())
	copy(b[24:40], dst.AsSlice())
	return append(b, seg...)
}

// interestingPorts are the boundary and rule ports the random packets pick
// from most of the time.
var interestingPorts = []uint16{0, 1, 22, 53, 79, 80, 81, 443, 1000, 1023, 1024, 8080, 65535}

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

// randomProbes returns n packets for family v6, mixing protocols, ports,
// TCP flags, ICMP types, and source and destination addresses of the pair.
func randomProbes(r *rand.Rand, n int, v6 bool, firstID uint32, recv4, recv6 netip.Addr) []probe {
	out := make([]probe, 0, n)
	for i := 0; i < n; i++ {
		id := firstID + uint32(i)
		var src, dst netip.Addr
		if v6 {
			a, b := senderV6.As16(), recv6.As16()
			a[15] = pick(r, []byte{1, 7, 9, 200})
			b[15] = pick(r, []byte{2, 3, 4, 5, 6})
			src, dst = netip.AddrFrom16(a), netip.AddrFrom16(b)
		} else {
			a, b := senderV4.As4(), recv4.As4()
			a[3] = pick(r, []byte{1, 7, 9, 200})
			b[3] = pick(r, []byte{2, 3, 4, 5, 6})
			src, dst = netip.AddrFrom4(a), netip.AddrFrom4(b)
		}
		port := func() uint16 {
			if r.IntN(4) == 0 {
				return uint16(r.UintN(65536))
			}
			return pick(r, interestingPorts)
		}
		h := l4{sport: port(), dport: port()}
		switch r.IntN(3) {
		case 0:
			h.proto = 6
			h.tcpFlags = pick(r, []uint8{0x02, 0x12, 0x10, 0x18, 0x01, 0x04, 0x11, 0x3f, 0x00})
		case 1:
			h.proto = 17
		default:
			h.proto = 1
			if v6 {
				h.proto = 58
				// Neighbour discovery types are left out: they change R's
				// neighbour table.
				h.icmpType = pick(r, []uint8{1, 2, 3, 4, 128, 129, 0, 200})
			} else {
				h.icmpType = pick(r, []uint8{0, 3, 5, 8, 11, 13, 255, 100})
			}
			h.icmpCode = pick(r, []uint8{0, 1, 3, 4, 255})
		}
		m := markerFor(id)
		ttl := pick(r, []uint8{1, 2, 63, 64, 255})
		p := probe{v6: v6, marker: m, ip: ipPacket(src, dst, h.proto, ttl, h.encode(src, dst, m))}
		p.desc = describe(src, dst, h, ttl)
		out = append(out, p)
	}
	return out
}

func describe(src, dst netip.Addr, h l4, ttl uint8) string {
	switch h.proto {
	case 6:
		return sprintf("%s > %s tcp %d > %d flags %#02x ttl %d", src, dst, h.sport, h.dport, h.tcpFlags, ttl)
	case 17:
		return sprintf("%s > %s udp %d > %d ttl %d", src, dst, h.sport, h.dport, ttl)
	}
	return sprintf("%s > %s icmp type %d code %d ttl %d", src, dst, h.icmpType, h.icmpCode, ttl)
}
