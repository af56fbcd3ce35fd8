package localroutes

import (
	"fmt"
	"sort"

	"github.com/bpfilter-go/bpfilter/backend"
	"github.com/bpfilter-go/bpfilter/ir"
)

// Route6 is one IPv6 route of a routing table dump (one per nexthop of a
// multipath route: the kernel keeps those as sibling routes).
type Route6 struct {
	// Dst is the prefix, Len its length; SrcLen the source prefix length
	// (source-specific routes: not mirrored, see doc.go).
	Dst    [16]byte
	Len    uint8
	SrcLen uint8
	// Table is the routing table id (local or main).
	Table uint32
	// Type is rtm_type (RTN_*), Protocol rtm_protocol, Metric
	// RTA_PRIORITY.
	Type     uint8
	Protocol uint8
	Metric   uint32
	// Ifindex is the nexthop device, Gateway whether it has a gateway.
	Ifindex uint32
	Gateway bool
	// Dead: the nexthop is dead (RTNH_F_DEAD).
	Dead bool
}

// Addr6 is one IPv6 address assigned to a device.
type Addr6 struct {
	Addr    [16]byte
	Ifindex uint32
	// Usable: not tentative (or optimistic), as ipv6_chk_addr requires.
	Usable bool
}

// rtprotKernel is RTPROT_KERNEL: routes the kernel made itself (addrconf).
const rtprotKernel = 2

// anycastFlag reports whether the kernel sets RTF_ANYCAST on r: only on the
// routes addrconf makes for anycast addresses (addrconf_f6i_alloc);
// rtm_to_fib6_config does not derive it from a user's rtm_type.
func (r Route6) anycastFlag() bool {
	return r.Type == ir.RTNAnycast && r.Protocol == rtprotKernel && r.Table == tableLocal && r.Len == 128
}

// errorType6 reports whether the kernel's dst of a route of type t carries
// an error (ip6_rt_type_to_error): the lookup fails, xt_addrtype answers
// UNREACHABLE. Throw routes continue with the next table instead.
func errorType6(t uint8) bool {
	return t == ir.RTNUnreachable || t == ir.RTNBlackhole || t == ir.RTNProhibit
}

// loopbackIfindex is the index of lo in every namespace (LOOPBACK_IFINDEX).
const loopbackIfindex = 1

// reject reports whether the kernel made r a reject route: an error type,
// or (fib6_is_reject) a route through loopback to other than ::1 that is
// neither local nor an addrconf anycast route, whose dst then carries
// -ENETUNREACH.
func (r Route6) reject() bool {
	if errorType6(r.Type) {
		return true
	}
	loop := r.Len == 128 && r.Dst == [16]byte{15: 1}
	return r.Ifindex == loopbackIfindex && !loop && r.Type != ir.RTNLocal && !r.anycastFlag()
}

// table6 is one routing table's candidate routes for a device: the
// lowest-metric route per prefix.
type table6 map[prefix6]Route6

type prefix6 struct {
	addr [16]byte
	len  uint8
}

func mask6(a [16]byte, n uint8) [16]byte {
	var out [16]byte
	for i := 0; i < 16; i++ {
		bits := int(n) - 8*i
		switch {
		case bits >= 8:
			out[i] = a[i]
		case bits > 0:
			out[i] = a[i] & (0xff << (8 - bits))
		}
	}
	return out
}

// longest returns the longest-prefix route of t containing q.
func (t table6) longest(q prefix6) (Route6, bool) {
	for l := int(q.len); l >= 0; l-- {
		if r, ok := t[prefix6{mask6(q.addr, uint8(l)), uint8(l)}]; ok {
			return r, true
		}
	}
	return Route6{}, false
}

// Build6 returns the ir.AddrTypes6 entries of the routes (local and main
// tables, dump order) and addresses of a namespace whose only IPv6 policy
// rules are the defaults (local table, then main): per limiting device (0
// and every device a route or address names), what match_lookup_rt6
// answers. An error when the table would not fit the map.
func Build6(routes []Route6, addrs []Addr6) ([]ir.AddrType6Entry, error) {
	devs := map[uint32]bool{0: true}
	for _, r := range routes {
		devs[r.Ifindex] = true
	}
	for _, a := range addrs {
		devs[a.Ifindex] = true
	}
	order := make([]uint32, 0, len(devs))
	for d := range devs {
		order = append(order, d)
	}
	sort.Slice(order, func(i, j int) bool { return order[i] < order[j] })
	var out []ir.AddrType6Entry
	for _, d := range order {
		out = append(out, build6Dev(routes, addrs, d)...)
	}
	if len(out) > backend.AddrType6MapEntries {
		return nil, fmt.Errorf("the IPv6 address type table needs %d entries, more than map %s holds (%d)", len(out), backend.AddrType6Map, backend.AddrType6MapEntries)
	}
	return out, nil
}

// build6Dev returns the entries of limiting device dev (0: none).
func build6Dev(routes []Route6, addrs []Addr6, dev uint32) []ir.AddrType6Entry {
	// The lookup's candidates: live nexthops, on dev when limited
	// (RT6_LOOKUP_F_IFACE), lowest metric per prefix (find_rr_leaf takes
	// the next metric only when none of the first matches).
	tabs := [2]table6{{}, {}}
	for _, r := range routes {
		if r.Dead || r.SrcLen != 0 || r.Len > 128 || (dev != 0 && r.Ifindex != dev) {
			continue
		}
		ti := 1
		if r.Table == tableLocal {
			ti = 0
		} else if r.Table != tableMain {
			continue
		}
		r.Dst = mask6(r.Dst, r.Len)
		p := prefix6{r.Dst, r.Len}
		if old, ok := tabs[ti][p]; ok && old.Metric <= r.Metric {
			continue
		}
		tabs[ti][p] = r
	}
	local := map[[16]byte]bool{}
	if dev != 0 {
		for _, a := range addrs {
			if a.Ifindex == dev && a.Usable {
				local[a.Addr] = true
			}
		}
	}
	// answer is match_lookup_rt6 for the addresses whose longest prefix
	// among the entries is q; host tells q is a single address.
	answer := func(q prefix6, host bool) uint16 {
		var r Route6
		found := false
		for _, t := range tabs {
			if r, found = t.longest(q); found && r.Type != ir.RTNThrow {
				break
			}
			found = false
		}
		if !found || r.reject() {
			return 1 << ir.RTNUnreachable
		}
		var bits uint16
		if host && local[q.addr] {
			bits |= 1 << ir.RTNLocal
		}
		if dev == 0 && r.Type == ir.RTNLocal {
			bits |= 1 << ir.RTNLocal
		}
		// ipv6_anycast_destination: RTF_ANYCAST, or the prefix address
		// of a direct route shorter than /127 (RTF_NONEXTHOP marks only
		// /128 and reject routes).
		if r.anycastFlag() || (host && r.Len < 127 && !r.Gateway && r.Dst == q.addr) {
			bits |= 1 << ir.RTNAnycast
		}
		return bits
	}
	keys := map[prefix6]bool{}
	for _, t := range tabs {
		for p := range t {
			keys[p] = true
			if p.len < 127 {
				keys[prefix6{p.addr, 128}] = true
			}
		}
	}
	for a := range local {
		keys[prefix6{a, 128}] = true
	}
	ps := make([]prefix6, 0, len(keys))
	for p := range keys {
		ps = append(ps, p)
	}
	// Shorter prefixes first: an entry equal to its nearest kept
	// ancestor (or, with none, to a miss) changes no answer and is left
	// out.
	sort.Slice(ps, func(i, j int) bool {
		if ps[i].len != ps[j].len {
			return ps[i].len < ps[j].len
		}
		return string(ps[i].addr[:]) < string(ps[j].addr[:])
	})
	var out []ir.AddrType6Entry
	kept := map[prefix6]uint16{}
	for _, p := range ps {
		v := answer(p, p.len == 128)
		parent := uint16(1 << ir.RTNUnreachable)
		for l := int(p.len) - 1; l >= 0; l-- {
			if t, ok := kept[prefix6{mask6(p.addr, uint8(l)), uint8(l)}]; ok {
				parent = t
				break
			}
		}
		if v == parent {
			continue
		}
		kept[p] = v
		out = append(out, ir.AddrType6Entry{Dev: dev, Addr: p.addr, Len: p.len, Types: v})
	}
	return out
}
