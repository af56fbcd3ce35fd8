package ir

import "encoding/binary"

// IPv6 address types that need a route lookup (ip6tables -m addrtype
// LOCAL, ANYCAST, UNREACHABLE; xt_addrtype's match_lookup_rt6).
//
// The IPv6 address type field is the address class (AddrClass6) ORed with
// the lookup bits the kernel's match_lookup_rt6 answers for the address
// and the limiting device: the route lookup nf_ip6_route makes (flow with
// the destination address only, output device = the limiting device) over
// the default policy rules (local table, then main table), reduced to
//
//   - UNREACHABLE alone when the lookup fails (no route, or a route of an
//     error type: unreachable, blackhole, prohibit),
//   - LOCAL when unlimited and the route is a local route, or when
//     limited and the address is assigned (not tentative) to the limiting
//     device (nf_ipv6_chk_addr, strict),
//   - ANYCAST when the route is an anycast route the kernel made for an
//     anycast address, or the address is the prefix address of a direct
//     route shorter than /127 (ipv6_anycast_destination).
//
// That answer depends on the routes and addresses of the network
// namespace, which a netfilter BPF program cannot read; AddrTypes6 holds
// it flattened per limiting device into longest-prefix entries
// (engine/localroutes computes them from the kernel's tables, the backend
// reads the same entries from an LPM trie). An address without an entry
// answers UNREACHABLE: no route at all.
//
// ip6tables' test: every class bit of the mask is set, and, when the mask
// has lookup bits, one of them is answered. The iptables frontend
// translates it with OpAll (class bits and at most one lookup bit) or
// OpAny (lookup bits only).

// AddrType6LookupBits are the IPv6 address type bits a route lookup
// answers.
const AddrType6LookupBits = 1<<RTNLocal | 1<<RTNAnycast | 1<<RTNUnreachable

// AddrType6Entry is one entry of an AddrTypes6 table: the lookup bits of
// the addresses whose longest matching entry for device Dev it is.
type AddrType6Entry struct {
	// Dev is the limiting device's ifindex (0: the lookup without a
	// device).
	Dev uint32
	// Addr is the prefix (host bits clear), Len its length.
	Addr [16]byte
	Len  uint8
	// Types are the lookup bits (a subset of AddrType6LookupBits).
	Types uint16
}

// AddrTypes6 is the IPv6 address type lookup table: per limiting device,
// longest-prefix entries. At most one entry per device and prefix.
type AddrTypes6 struct {
	Entries []AddrType6Entry
}

// Lookup returns the lookup bits of addr with limiting device dev (0:
// none): the longest matching entry's, UNREACHABLE when none matches.
func (t *AddrTypes6) Lookup(dev uint32, addr [16]byte) uint16 {
	if t == nil {
		return 1 << RTNUnreachable
	}
	best, found := AddrType6Entry{}, false
	for _, e := range t.Entries {
		if e.Dev != dev || e.Len > 128 || (found && e.Len <= best.Len) {
			continue
		}
		if prefix6Contains(e.Addr, e.Len, addr) {
			best, found = e, true
		}
	}
	if !found {
		return 1 << RTNUnreachable
	}
	return best.Types
}

// prefix6Contains reports whether addr lies in prefix p/n.
func prefix6Contains(p [16]byte, n uint8, addr [16]byte) bool {
	for i := 0; i < 2; i++ {
		bits := int(n) - 64*i
		if bits <= 0 {
			return true
		}
		mask := ^uint64(0)
		if bits < 64 {
			mask <<= 64 - bits
		}
		if binary.BigEndian.Uint64(p[8*i:])&mask != binary.BigEndian.Uint64(addr[8*i:])&mask {
			return false
		}
	}
	return true
}

// AddrType6 returns the IPv6 address type field value of addr with
// limiting device dev: the class bits and the lookup bits.
func AddrType6(t *AddrTypes6, addr [16]byte, dev uint32) uint16 {
	return AddrClass6(addr) | t.Lookup(dev, addr)
}
