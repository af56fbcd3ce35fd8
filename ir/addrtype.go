package ir

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// Address type fields (addr.stype, addr.dtype and their _iif/_oif forms),
// as iptables' addrtype match computes them on netfilter hooks.
//
// The value of an address type field is a u16 of route type bits: bit n is
// route type n (RTN_UNSPEC = 0 ... RTN_XRESOLVE = 11), the layout of
// xt_addrtype's XT_ADDRTYPE_* masks.
//
// IPv4 (xt_addrtype match_type, net/ipv4/fib_frontend.c
// __inet_dev_addr_type): exactly one bit is set, the bit of
//
//   - BROADCAST for 0.0.0.0/8 and 255.255.255.255,
//   - MULTICAST for 224.0.0.0/4,
//   - otherwise the type of the longest-prefix route for the address in
//     the network namespace's local routing table (LocalRoutes), UNICAST
//     when no route matches; with an interface limit, UNICAST as well when
//     the route's (first) nexthop device is not the limiting device. A
//     route whose type makes fib_table_lookup fail (blackhole,
//     unreachable, prohibit, throw, nat, xresolve) also answers UNICAST;
//     LocalRoutes stores such routes with type UNICAST.
//
// iptables' addrtype holds when the bit is in the rule's mask: OpAny.
//
// IPv6 (match_type6): the field carries the address's ipv6_addr_type
// class: UNSPEC for ::, MULTICAST for ff00::/8, UNICAST for every other
// address except the v4-mapped ::ffff:0:0/96 (no bit), ORed with the bits
// of the route lookup (LOCAL, ANYCAST, UNREACHABLE) from the AddrTypes6
// table (addrtype6.go). ip6tables' addrtype holds when every class bit of
// the mask is set and, when it has lookup bits, one of them is answered:
// OpAll, or OpAny for a mask of lookup bits only.
//
// The interface limit reads the hook's input (_iif) or output (_oif)
// device; on a hook without that device the lookup is not limited, as
// the kernel does with a NULL device.

// Route types (RTN_*, linux/rtnetlink.h).
const (
	RTNUnspec      = 0
	RTNUnicast     = 1
	RTNLocal       = 2
	RTNBroadcast   = 3
	RTNAnycast     = 4
	RTNMulticast   = 5
	RTNBlackhole   = 6
	RTNUnreachable = 7
	RTNProhibit    = 8
	RTNThrow       = 9
	RTNNAT         = 10
	RTNXResolve    = 11
	// RTNMax is the highest route type.
	RTNMax = RTNXResolve
)

// AddrTypeNames are the address type names by route type, as iptables
// spells them.
var AddrTypeNames = []string{"UNSPEC", "UNICAST", "LOCAL", "BROADCAST", "ANYCAST", "MULTICAST",
	"BLACKHOLE", "UNREACHABLE", "PROHIBIT", "THROW", "NAT", "XRESOLVE"}

// addrTypeOps: OpAny is iptables' IPv4 test, OpAll ip6tables' test.
var addrTypeOps = []Op{OpEq, OpAny, OpAll}

// AddrTypeIface says which device limits an address type lookup.
type AddrTypeIface uint8

// Interface limits.
const (
	AddrTypeNoLimit AddrTypeIface = iota
	AddrTypeLimitIn
	AddrTypeLimitOut
)

// AddrTypeField returns the address type field of the source (src) or
// destination address with the given interface limit.
func AddrTypeField(src bool, limit AddrTypeIface) Field {
	fs := [3][2]Field{{AddrDType, AddrSType}, {AddrDTypeIif, AddrSTypeIif}, {AddrDTypeOif, AddrSTypeOif}}
	i := 0
	if src {
		i = 1
	}
	if int(limit) >= len(fs) {
		return FieldInvalid
	}
	return fs[limit][i]
}

// AddrTypeSpec returns what an address type field reads: the source or the
// destination address, and the interface limit; ok is false for the
// other fields.
func (f Field) AddrTypeSpec() (src bool, limit AddrTypeIface, ok bool) {
	switch f {
	case AddrSType:
		return true, AddrTypeNoLimit, true
	case AddrDType:
		return false, AddrTypeNoLimit, true
	case AddrSTypeIif:
		return true, AddrTypeLimitIn, true
	case AddrDTypeIif:
		return false, AddrTypeLimitIn, true
	case AddrSTypeOif:
		return true, AddrTypeLimitOut, true
	case AddrDTypeOif:
		return false, AddrTypeLimitOut, true
	}
	return false, 0, false
}

// LocalRoute is one IPv4 route the address type lookup can find.
type LocalRoute struct {
	// Addr is the route's prefix (host bits clear), Len its length.
	Addr [4]byte
	Len  uint8
	// Type is the answer (an RTN_* value; UNICAST for the route types
	// that make the kernel's lookup fail).
	Type uint8
	// Ifindex is the device of the route's first nexthop (0: none).
	Ifindex uint32
}

// LocalRoutes is the routing table the IPv4 address type lookup sees: the
// network namespace's local table (merged with the main table's relevant
// routes when the kernel merges them; see engine/localroutes). At most one
// route per prefix.
type LocalRoutes struct {
	Routes []LocalRoute
}

// Lookup returns the longest-prefix route for addr.
func (t *LocalRoutes) Lookup(addr [4]byte) (LocalRoute, bool) {
	var best LocalRoute
	found := false
	if t == nil {
		return best, false
	}
	a := binary.BigEndian.Uint32(addr[:])
	for _, r := range t.Routes {
		if r.Len > 32 || (found && r.Len <= best.Len) {
			continue
		}
		mask := uint32(0)
		if r.Len > 0 {
			mask = ^uint32(0) << (32 - r.Len)
		}
		if a&mask == binary.BigEndian.Uint32(r.Addr[:])&mask {
			best, found = r, true
		}
	}
	return best, found
}

// AddrType4 is inet_dev_addr_type: the route type of IPv4 address addr in
// table t, limited to device dev when dev is not 0.
func AddrType4(t *LocalRoutes, addr [4]byte, dev uint32) uint8 {
	switch {
	case addr[0] == 0 || addr == [4]byte{255, 255, 255, 255}:
		return RTNBroadcast
	case addr[0]&0xf0 == 0xe0:
		return RTNMulticast
	}
	r, ok := t.Lookup(addr)
	if !ok || (dev != 0 && r.Ifindex != dev) {
		return RTNUnicast
	}
	return r.Type
}

// AddrClass6 returns the address type bits ip6tables' addrtype tests
// without a route lookup: UNSPEC for ::, MULTICAST for ff00::/8, none for
// v4-mapped addresses, UNICAST for the others (ipv6_addr_type).
func AddrClass6(a [16]byte) uint16 {
	w := func(i int) uint32 { return binary.BigEndian.Uint32(a[4*i:]) }
	switch {
	case a[0] == 0xff:
		return 1 << RTNMulticast
	case w(0) == 0 && w(1) == 0 && w(2) == 0 && w(3) == 0:
		return 1 << RTNUnspec
	case w(0) == 0 && w(1) == 0 && w(2) == 0xffff:
		return 0
	}
	return 1 << RTNUnicast
}

// addrTypeFieldValue computes an address type field.
func addrTypeFieldValue(f Field, p *Packet, pp *Parsed) ([]byte, bool) {
	src, limit, _ := f.AddrTypeSpec()
	switch {
	case pp.L3 == nil:
		return nil, false
	case pp.L3Proto == EthPIP:
		var a [4]byte
		off := 16
		if src {
			off = 12
		}
		copy(a[:], pp.L3[off:off+4])
		return putUint(1<<AddrType4(p.LocalRoutes, a, addrTypeDev(p, limit)), 2), true
	case pp.L3Proto == EthPIPv6:
		var a [16]byte
		off := 24
		if src {
			off = 8
		}
		copy(a[:], pp.L3[off:off+16])
		return putUint(uint64(AddrType6(p.AddrTypes6, a, addrTypeDev(p, limit))), 2), true
	}
	return nil, false
}

func parseAddrTypes(s string) ([]byte, []byte, error) {
	var v uint64
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		found := false
		for i, n := range AddrTypeNames {
			if strings.EqualFold(n, part) {
				v |= 1 << i
				found = true
			}
		}
		if !found && strings.HasPrefix(part, "0x") {
			x, err := parseUint(part, 1<<16-1, true)
			v, found = v|x, err == nil
		}
		if !found {
			return nil, nil, fmt.Errorf("unknown address type %q (use %s)", part, strings.Join(AddrTypeNames, ", "))
		}
	}
	return putUint(v, 2), nil, nil
}

func formatAddrTypes(v uint64) string {
	var parts []string
	for i, n := range AddrTypeNames {
		if v&(1<<i) != 0 {
			parts = append(parts, n)
			v &^= 1 << i
		}
	}
	if v != 0 || len(parts) == 0 {
		parts = append(parts, fmt.Sprintf("0x%x", v))
	}
	return strings.Join(parts, ",")
}

// addrTypeDev returns the limiting device of an address type lookup.
func addrTypeDev(p *Packet, limit AddrTypeIface) uint32 {
	switch limit {
	case AddrTypeLimitIn:
		return p.InIfindex
	case AddrTypeLimitOut:
		return p.OutIfindex
	}
	return 0
}
