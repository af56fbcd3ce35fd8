package iptdiff

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
)

// hdVerdict is what a probe's traversal of F's chain ends in.
type hdVerdict uint8

const (
	hdAccept   hdVerdict = iota // let through (a rule or the ACCEPT policy)
	hdRuleDrop                  // a -j DROP rule matched (its counter moved)
	hdHotdrop                   // dropped with no DROP rule counted: an xt match's hotdrop
)

func (v hdVerdict) String() string {
	return [...]string{"accept", "drop by a DROP rule", "hotdrop"}[v]
}

// hdProbe is one crafted packet of the hotdrop differential.
type hdProbe struct {
	hook  string // INPUT, FORWARD or OUTPUT
	group int    // 1-hdGroups: which rule group of hdRules its destination selects
	v6    bool
	desc  string
	dst   netip.Addr
	ip    []byte
	mark  uint32 // IPv4 ID / IPv6 flow label
	// want is the kernel's verdict as docs/HOTDROP.md states it.
	want hdVerdict
	// known marks the probes bpfilter without the hotdrop gets wrong:
	// every kernel hotdrop, and multiport on a truncated header (group 4,
	// where the kernel's multiport reads the ports from 4 bytes).
	known bool
}

// hdShape is a probe's transport part: proto with n bytes of its header
// (destination port dport), or, when frag is not 0, a non-first fragment
// at offset frag (8-byte units: the IPv4 fragment offset, the IPv6
// fragment header's offset) of a proto datagram. more sets the
// more-fragments flag (with frag 0: a first fragment carrying n bytes of
// the header). Fragments go only through FORWARD (LOCAL_IN reassembles,
// and the raw OUTPUT path is not the point); fam restricts a shape to
// IPv4 (4) or IPv6 (6).
type hdShape struct {
	proto uint8
	n     int
	dport uint16
	frag  uint16
	more  bool
	fam   int
	want  hdVerdict
}

// fragment reports whether the shape is a fragment of either kind.
func (s hdShape) fragment() bool { return s.frag != 0 || s.more }

func (s hdShape) String() string {
	name := map[uint8]string{6: "tcp", 17: "udp", 1: "icmp", 58: "icmpv6"}[s.proto]
	if s.frag != 0 {
		return fmt.Sprintf("%s fragment at offset %d (x8 bytes)", name, s.frag)
	}
	h := fmt.Sprintf("%s %dB header", name, s.n)
	if s.n >= 4 && (s.proto == 6 || s.proto == 17) {
		h += fmt.Sprintf(" dport %d", s.dport)
	}
	if s.more {
		h += ", first fragment"
	}
	return h
}

// Rule groups (hdRules): one destination address per group and hook.
const (
	hdGroupReached  = 1 // the matches are reached, after rules whose -s fails
	hdGroupAccepted = 2 // an earlier ACCEPT takes every packet
	hdGroupUser     = 3 // the matches are in a user chain reached by -j
	hdGroupMulti    = 4 // multiport before tcp/udp
	// The matches are not reached: the rule's -s fails, or an earlier
	// match of the rule is false (xt matches run in rule order).
	hdGroupNotReached = 5
	hdGroups          = 5
)

var hdGroupNames = map[int]string{hdGroupReached: "reached", hdGroupAccepted: "earlier ACCEPT", hdGroupUser: "user chain", hdGroupMulti: "multiport", hdGroupNotReached: "not reached"}

// hdShapes are the probes of each group with the kernel's verdict
// (docs/HOTDROP.md: tcp needs 20 bytes, udp and icmp 8, multiport 4, also
// in a first fragment; a non-first fragment makes the matches false; an
// IPv4 fragment offset of 1 makes tcp hotdrop, while IPv6's fragoff is in
// bytes, 8 for the same offset, so no hotdrop). icmp is icmpv6 for IPv6,
// where icmp headers below 7 bytes are left out.
var hdShapes = map[int][]hdShape{
	hdGroupReached: {
		{proto: 6, n: 10, dport: 22, want: hdHotdrop},
		{proto: 6, n: 19, dport: 22, want: hdHotdrop},
		{proto: 6, n: 20, dport: 22, want: hdAccept},
		{proto: 17, n: 4, dport: 22, want: hdHotdrop},
		{proto: 17, n: 8, dport: 22, want: hdAccept},
		{proto: 1, n: 5, want: hdHotdrop},
		{proto: 1, n: 7, want: hdHotdrop},
		{proto: 1, n: 8, want: hdAccept},
		{proto: 6, frag: 1, fam: 4, want: hdHotdrop},
		{proto: 6, frag: 1, fam: 6, want: hdAccept},
		{proto: 6, frag: 2, want: hdAccept},
		{proto: 17, frag: 1, want: hdAccept},
		{proto: 1, frag: 1, want: hdAccept},
		{proto: 6, n: 10, dport: 22, more: true, want: hdHotdrop},
		{proto: 6, n: 20, dport: 22, more: true, want: hdAccept},
		{proto: 17, n: 4, dport: 22, more: true, want: hdHotdrop},
	},
	hdGroupAccepted: {
		{proto: 6, n: 10, dport: 22, want: hdAccept},
		{proto: 17, n: 4, dport: 22, want: hdAccept},
		{proto: 1, n: 7, want: hdAccept},
		{proto: 6, frag: 1, want: hdAccept},
	},
	hdGroupUser: {
		{proto: 6, n: 10, dport: 22, want: hdHotdrop},
		{proto: 6, n: 20, dport: 22, want: hdAccept},
		{proto: 17, n: 4, dport: 22, want: hdHotdrop},
		{proto: 1, n: 7, want: hdHotdrop},
		{proto: 1, n: 8, want: hdAccept},
		{proto: 6, frag: 1, fam: 4, want: hdHotdrop},
		{proto: 6, frag: 1, fam: 6, want: hdAccept},
	},
	hdGroupMulti: {
		{proto: 6, n: 2, want: hdHotdrop},
		{proto: 6, n: 4, dport: 22, want: hdRuleDrop},
		{proto: 6, n: 10, dport: 80, want: hdHotdrop},
		{proto: 6, n: 19, dport: 22, want: hdRuleDrop},
		{proto: 6, n: 20, dport: 80, want: hdAccept},
		{proto: 17, n: 4, dport: 22, want: hdRuleDrop},
		{proto: 17, n: 4, dport: 80, want: hdHotdrop},
		{proto: 17, n: 8, dport: 80, want: hdAccept},
		{proto: 6, frag: 1, fam: 4, want: hdHotdrop},
		{proto: 6, frag: 1, fam: 6, want: hdAccept},
		{proto: 6, frag: 2, want: hdAccept},
		{proto: 17, frag: 1, want: hdAccept},
		{proto: 6, n: 4, dport: 22, more: true, want: hdRuleDrop},
	},
	hdGroupNotReached: {
		{proto: 6, n: 2, want: hdAccept},
		{proto: 6, n: 10, dport: 22, want: hdAccept},
		{proto: 6, n: 20, dport: 22, want: hdAccept},
		{proto: 17, n: 4, dport: 22, want: hdHotdrop},
		{proto: 17, n: 8, dport: 22, want: hdAccept},
		{proto: 1, n: 5, want: hdAccept},
		{proto: 1, n: 7, want: hdAccept},
		{proto: 6, frag: 1, fam: 4, want: hdAccept},
		{proto: 6, n: 10, dport: 22, more: true, want: hdAccept},
	},
}

// hdHooks are the chains the probes go through.
var hdHooks = []string{"INPUT", "FORWARD", "OUTPUT"}

// hdProbes returns every probe: each family, hook, group and shape.
func hdProbes() []hdProbe {
	var out []hdProbe
	for _, v6 := range []bool{false, true} {
		for _, hook := range hdHooks {
			for g := 1; g <= hdGroups; g++ {
				for _, s := range hdShapes[g] {
					if s.fragment() && hook != "FORWARD" || s.fam == 4 && v6 || s.fam == 6 && !v6 {
						continue
					}
					if v6 && s.proto == 1 {
						if s.frag == 0 && s.n < 7 {
							continue
						}
						s.proto = 58
					}
					src, dst := hdS4, hdDst(hook, g, v6)
					if v6 {
						src = hdS6
					}
					if hook == "OUTPUT" {
						src = hdF4
						if v6 {
							src = hdF6
						}
					}
					mark := uint32(0x100 + len(out))
					p := hdProbe{
						hook: hook, group: g, v6: v6, dst: dst, mark: mark,
						desc:  fmt.Sprintf("%s %s > %s %s (group %s, mark %#x)", hook, src, dst, s, hdGroupNames[g], mark),
						want:  s.want,
						known: s.want == hdHotdrop || g == hdGroupMulti && s.want == hdRuleDrop,
					}
					p.ip = hdPacket(src, dst, s, mark)
					out = append(out, p)
				}
			}
		}
	}
	return out
}

// hdSegment returns n bytes of a transport header (a wrong checksum, so
// that nothing answers the probe; a TCP header has RST set).
func hdSegment(proto uint8, n int, dport uint16) []byte {
	var h []byte
	switch proto {
	case 6:
		h = make([]byte, 20)
		binary.BigEndian.PutUint16(h[0:], 40000)
		binary.BigEndian.PutUint16(h[2:], dport)
		binary.BigEndian.PutUint32(h[4:], 1)
		h[12], h[13] = 5<<4, 0x04
		binary.BigEndian.PutUint16(h[16:], 0xdead)
	case 17:
		h = make([]byte, 8)
		binary.BigEndian.PutUint16(h[0:], 40000)
		binary.BigEndian.PutUint16(h[2:], dport)
		binary.BigEndian.PutUint16(h[4:], 8)
		binary.BigEndian.PutUint16(h[6:], 0xdead)
	default: // echo reply: ICMP type 0, ICMPv6 type 129
		h = make([]byte, 8)
		if proto == 58 {
			h[0] = 129
		}
		binary.BigEndian.PutUint16(h[2:], 0xdead)
	}
	return h[:n]
}

// hdPacket builds the probe's IP packet; mark goes in the IPv4 ID or the
// IPv6 flow label (and the fragment header's identification).
func hdPacket(src, dst netip.Addr, s hdShape, mark uint32) []byte {
	seg := hdSegment(s.proto, s.n, s.dport)
	if s.frag != 0 {
		seg = make([]byte, 16) // the middle of some datagram
	}
	fragField := s.frag << 3 // IPv6: offset in the top 13 bits, M last
	if s.more {
		fragField |= 1
	}
	if src.Is4() {
		fragField = s.frag & 0x1fff // IPv4: MF is 0x2000
		if s.more {
			fragField |= 0x2000
		}
	}
	if s.fragment() && src.Is6() {
		fh := make([]byte, 8, 8+len(seg))
		fh[0] = s.proto
		binary.BigEndian.PutUint16(fh[2:], fragField)
		binary.BigEndian.PutUint32(fh[4:], mark)
		return hdIP(src, dst, 44, mark, 0, append(fh, seg...))
	}
	return hdIP(src, dst, s.proto, mark, fragField, seg)
}

// hdIP wraps seg in an IPv4 header (ID mark, flags and fragment offset
// frag) or an IPv6 header (flow label mark; frag unused).
func hdIP(src, dst netip.Addr, proto uint8, mark uint32, frag uint16, seg []byte) []byte {
	if src.Is4() {
		b := make([]byte, 20, 20+len(seg))
		b[0] = 0x45
		binary.BigEndian.PutUint16(b[2:], uint16(20+len(seg)))
		binary.BigEndian.PutUint16(b[4:], uint16(mark))
		binary.BigEndian.PutUint16(b[6:], frag)
		b[8], b[9] = 64, proto
		copy(b[12:16], src.AsSlice())
		copy(b[16:20], dst.AsSlice())
		binary.BigEndian.PutUint16(b[10:], csum(b, 0))
		return append(b, seg...)
	}
	b := make([]byte, 40, 40+len(seg))
	binary.BigEndian.PutUint32(b[0:], 6<<28|mark&0xfffff)
	binary.BigEndian.PutUint16(b[4:], uint16(len(seg)))
	b[6], b[7] = proto, 64
	copy(b[8:24], src.AsSlice())
	copy(b[24:40], dst.AsSlice())
	return append(b, seg...)
}

// hdFence is a complete UDP datagram from S to dst carrying marker (a
// wrong checksum: it is dropped without an answer).
func hdFence(dst netip.Addr, marker []byte) []byte {
	src := hdS4
	if dst.Is6() {
		src = hdS6
	}
	seg := hdSegment(17, 8, 9)
	binary.BigEndian.PutUint16(seg[4:], uint16(8+len(marker)))
	return hdIP(src, dst, 17, 0, 0, append(seg, marker...))
}

// hdRules is the restore text of one family: in each of INPUT, FORWARD
// and OUTPUT, one group of rules per probe destination (policy ACCEPT,
// so that a drop is the hotdrop's or a DROP rule's), and the user chain
// hd.
func hdRules(v6 bool) string {
	icmp, other, plen := "-p icmp -m icmp --icmp-type any", "198.18.0.99/32", "/32"
	if v6 {
		icmp, other, plen = "-p ipv6-icmp -m icmp6 --icmpv6-type 129", "fd00:198:18::99/128", "/128"
	}
	var b strings.Builder
	b.WriteString("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:hd - [0:0]\n")
	for _, h := range hdHooks {
		a := func(g int, rest string) {
			fmt.Fprintln(&b, strings.TrimSpace(fmt.Sprintf("-A %s -d %s%s %s", h, hdDst(h, g, v6), plen, rest)))
		}
		// Reached: the -s of each "other" rule fails, so its match is not
		// reached; the tcp match of --dport 23 is reached whatever the
		// probe's port.
		a(hdGroupReached, "-s "+other+" -p tcp -m tcp --dport 22 -j ACCEPT")
		a(hdGroupReached, "-p tcp -m tcp --dport 23 -j ACCEPT")
		a(hdGroupReached, "-p tcp -m tcp --dport 22 -j ACCEPT")
		a(hdGroupReached, "-s "+other+" -p udp -m udp --dport 22 -j ACCEPT")
		a(hdGroupReached, "-p udp -m udp --dport 22 -j ACCEPT")
		a(hdGroupReached, "-s "+other+" "+icmp+" -j ACCEPT")
		a(hdGroupReached, icmp+" -j ACCEPT")
		a(hdGroupReached, "")
		a(hdGroupAccepted, "-j ACCEPT")
		a(hdGroupAccepted, "-p tcp -m tcp --dport 22 -j ACCEPT")
		a(hdGroupAccepted, "-p udp -m udp --dport 22 -j ACCEPT")
		a(hdGroupAccepted, icmp+" -j ACCEPT")
		a(hdGroupUser, "-j hd")
		a(hdGroupUser, "")
		a(hdGroupMulti, "-p tcp -m multiport --dports 22 -j DROP")
		a(hdGroupMulti, "-p tcp -m tcp --dport 22 -j ACCEPT")
		a(hdGroupMulti, "-p udp -m multiport --dports 22 -j DROP")
		a(hdGroupMulti, "-p udp -m udp --dport 22 -j ACCEPT")
		a(hdGroupMulti, "")
		a(hdGroupNotReached, "-s "+other+" -p tcp -m tcp --dport 22 -j ACCEPT")
		a(hdGroupNotReached, "-s "+other+" -p udp -m udp --dport 22 -j ACCEPT")
		a(hdGroupNotReached, "-s "+other+" "+icmp+" -j ACCEPT")
		a(hdGroupNotReached, "-s "+other+" -p tcp -m multiport --dports 22 -j ACCEPT")
		a(hdGroupNotReached, "-p tcp -m length --length 1000:2000 -m tcp --dport 22 -j ACCEPT")
		a(hdGroupNotReached, "-p udp -m udp --dport 22 -m length --length 1000:2000 -j ACCEPT")
		a(hdGroupNotReached, "")
	}
	fmt.Fprintf(&b, "-A hd -s %s -p tcp -m tcp --dport 22 -j ACCEPT\n", other)
	b.WriteString("-A hd -p tcp -m tcp --dport 22 -j RETURN\n")
	b.WriteString("-A hd -p udp -m udp --dport 22 -j RETURN\n")
	fmt.Fprintf(&b, "-A hd %s -j RETURN\n", icmp)
	b.WriteString("COMMIT\n")
	return b.String()
}

// hdRuleCounts returns the number of rules of each chain of a restore
// text.
func hdRuleCounts(text string) map[string]int {
	n := map[string]int{}
	for _, line := range strings.Split(text, "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "-A" {
			n[f[1]]++
		}
	}
	return n
}

// hdDropRules returns the -j DROP rules of a restore text.
func hdDropRules(text string) map[hdRule]bool {
	out, n := map[hdRule]bool{}, map[string]int{}
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "-A" {
			continue
		}
		n[f[1]]++
		if strings.HasSuffix(line, "-j DROP") {
			out[hdRule{f[1], n[f[1]]}] = true
		}
	}
	return out
}
