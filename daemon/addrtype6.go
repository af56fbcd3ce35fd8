package daemon

import (
	"github.com/cilium/ebpf"

	"github.com/bpfilter-go/bpfilter/engine/localroutes"
)

// IPv6 address type routes: a chain with address type matches also has
// an IPv6 lookup map (backend.AddrType6Map), which the same mirror fills
// next to the IPv4 one.

// addrType6Mapper is implemented by programs that can hand out their IPv6
// address type map.
type addrType6Mapper interface {
	AddrType6Map() *ebpf.Map
}

// AddrType6Map returns the engine chain's IPv6 address type map.
func (p *engineProgram) AddrType6Map() *ebpf.Map {
	if p.c == nil {
		return nil
	}
	return p.c.AddrType6Map()
}

// progAddrType6Map returns p's IPv6 address type map, nil when none.
func progAddrType6Map(p Program) *ebpf.Map {
	if m, ok := p.(addrType6Mapper); ok {
		return m.AddrType6Map()
	}
	return nil
}

// atAdd6 adds p's IPv6 address type map (if any) to mir.
func atAdd6(mir *localroutes.Mirror, p Program) error {
	if m := progAddrType6Map(p); m != nil {
		return mir.Add(m)
	}
	return nil
}
