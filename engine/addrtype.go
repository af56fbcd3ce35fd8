package engine

import (
	"github.com/cilium/ebpf"

	"github.com/bpfilter-go/bpfilter/backend"
)

// AddrTypeMap returns the chain's address type lookup map
// (backend.AddrTypeMap), nil when its program has no address type match.
// Whoever attaches such a chain keeps the map filled from the network
// namespace's routes with package engine/localroutes; an empty map makes
// every address that is not broadcast or multicast UNICAST.
func (c *Chain) AddrTypeMap() *ebpf.Map {
	if c == nil || c.coll == nil {
		return nil
	}
	return c.coll.Maps[backend.AddrTypeMap]
}

// AddrType6Map returns the chain's IPv6 address type lookup map
// (backend.AddrType6Map), nil when its program has no address type match;
// it is filled like AddrTypeMap (package engine/localroutes). An empty
// map answers UNREACHABLE for every IPv6 address.
func (c *Chain) AddrType6Map() *ebpf.Map {
	if c == nil || c.coll == nil {
		return nil
	}
	return c.coll.Maps[backend.AddrType6Map]
}
