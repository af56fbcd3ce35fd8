package localroutes

import (
	"encoding/binary"
	"sort"

	"github.com/bpfilter-go/bpfilter/ir"
)

// Route is one IPv4 route of a routing table dump.
type Route struct {
	// Dst is the prefix, Len its length.
	Dst [4]byte
	Len uint8
	// TOS is rtm_tos; Type rtm_type (RTN_*).
	TOS  uint8
	Type uint8
	// Ifindex is the device of the first nexthop (0: none).
	Ifindex uint32
	// Dead: every nexthop is dead (RTNH_F_DEAD).
	Dead bool
}

// errorType reports whether fib_table_lookup fails on routes of type t
// (fib_props[t].error != 0).
func errorType(t uint8) bool { return t >= ir.RTNBlackhole && t <= ir.RTNXResolve }

// eligible reports whether a lookup of a flow without TOS can stop at r.
func (r Route) eligible() bool { return r.TOS == 0 && !r.Dead && r.Len <= 32 }

// entry is the table entry of r.
func (r Route) entry() ir.LocalRoute {
	e := ir.LocalRoute{Len: r.Len, Type: r.Type, Ifindex: r.Ifindex}
	a := binary.BigEndian.Uint32(r.Dst[:]) & prefixMask(r.Len)
	binary.BigEndian.PutUint32(e.Addr[:], a)
	if errorType(r.Type) {
		// The lookup fails: inet_dev_addr_type answers UNICAST, with or
		// without a device.
		e.Type, e.Ifindex = ir.RTNUnicast, 0
	}
	return e
}

func prefixMask(n uint8) uint32 {
	if n == 0 {
		return 0
	}
	return ^uint32(0) << (32 - n)
}

// covers reports whether e's prefix contains r's.
func covers(e ir.LocalRoute, r Route) bool {
	m := prefixMask(e.Len)
	return e.Len <= r.Len && binary.BigEndian.Uint32(e.Addr[:])&m == binary.BigEndian.Uint32(r.Dst[:])&m
}

// Build returns the entries the address type lookup needs, from the
// local table's routes and, when merged (the kernel shares one trie for
// both tables), the main table's: every eligible local route, and the
// main routes that answer other than UNICAST or lie inside a kept route
// (only those can change an answer). One entry per prefix, the first one
// dumped winning, local before main.
func Build(local, main []Route, merged bool) []ir.LocalRoute {
	seen := map[[5]byte]bool{}
	var out []ir.LocalRoute
	add := func(r Route) {
		e := r.entry()
		k := [5]byte{e.Addr[0], e.Addr[1], e.Addr[2], e.Addr[3], e.Len}
		if seen[k] {
			return
		}
		seen[k] = true
		out = append(out, e)
	}
	for _, r := range local {
		if r.eligible() {
			add(r)
		}
	}
	if !merged {
		return out
	}
	ms := make([]Route, 0, len(main))
	for _, r := range main {
		if r.eligible() {
			ms = append(ms, r)
		}
	}
	// Shorter prefixes first, so that a route inside a kept main route is
	// seen after it.
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].Len < ms[j].Len })
	for _, r := range ms {
		keep := r.Type != ir.RTNUnicast && !errorType(r.Type)
		for i := 0; !keep && i < len(out); i++ {
			keep = covers(out[i], r)
		}
		if keep {
			add(r)
		}
	}
	return out
}
