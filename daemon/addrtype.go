package daemon

import (
	"errors"
	"sort"

	"github.com/cilium/ebpf"

	"github.com/bpfilter-go/bpfilter/daemon/proto"
	"github.com/bpfilter-go/bpfilter/engine/localroutes"
)

// Address type routes: a chain with address type matches (iptables -m
// addrtype) looks addresses up in its backend.AddrTypeMap, which must
// mirror the routes of the network namespace the chain is attached in. The
// daemon keeps one localroutes.Mirror per namespace holding such a chain:
// a new chain's map is filled before the chain is attached or swapped in,
// the mirror then follows route changes, and it stops when no chain in
// force there needs it (or the daemon stops; pinned maps keep their last
// contents until a restarted daemon restores and re-dumps them).

// addrTypeMapper is implemented by programs that can hand out their
// address type map (nil: the chain has no address type match).
type addrTypeMapper interface {
	AddrTypeMap() *ebpf.Map
}

// AddrTypeMap returns the engine chain's address type map.
func (p *engineProgram) AddrTypeMap() *ebpf.Map {
	if p.c == nil {
		return nil
	}
	return p.c.AddrTypeMap()
}

// addrTypeMap returns e's address type map, nil when none.
func (e *entry) addrTypeMap() *ebpf.Map { return progAddrTypeMap(e.prog) }

func progAddrTypeMap(p Program) *ebpf.Map {
	if m, ok := p.(addrTypeMapper); ok {
		return m.AddrTypeMap()
	}
	return nil
}

// atFill fills the address type map of prog, just loaded by plan p for
// entry e, from the routes of the namespace e is attached in, starting
// that namespace's mirror when needed. Unattached chains filter nothing:
// their map stays empty. s.mu must be held.
func (s *State) atFill(p *plan, e *entry, prog Program) error {
	m := progAddrTypeMap(prog)
	if m == nil || !e.Attached {
		return nil
	}
	mir, err := s.atMirror(func(fn func() error) error { return s.inNetns(p, e.NetnsID, fn) }, e.NetnsID)
	if err == nil {
		err = mir.Add(m)
	}
	if err == nil {
		err = atAdd6(mir, prog)
	}
	if err != nil {
		return errorf(proto.EIO, "chain %s: filling the address type table (-m addrtype): %w", e.name(), err)
	}
	return nil
}

// atMirror returns the mirror of namespace id, starting it with enter.
func (s *State) atMirror(enter func(func() error) error, id uint64) (*localroutes.Mirror, error) {
	if mir := s.atMirrors[id]; mir != nil {
		return mir, nil
	}
	// The mirror's sockets hold the namespace: it stops once no process
	// or name refers to the namespace any more, so the namespace can go.
	alive := func() bool {
		err := s.ns.InNetnsID(id, func() error { return nil })
		var gone *netnsGoneError
		return !errors.As(err, &gone)
	}
	mir, err := localroutes.Start(enter, localroutes.Options{Logger: s.log.With("netns", id), Alive: alive})
	if err != nil {
		return nil, err
	}
	if s.atMirrors == nil {
		s.atMirrors = map[uint64]*localroutes.Mirror{}
	}
	s.atMirrors[id] = mir
	return mir, nil
}

// atRelease makes every mirror hold exactly the maps of the chains in
// force in its namespace and stops the mirrors left without one. s.mu
// must be held.
func (s *State) atRelease() {
	keep := map[uint64][]*ebpf.Map{}
	for _, e := range s.chains {
		if m := e.addrTypeMap(); m != nil && e.Attached {
			keep[e.NetnsID] = append(keep[e.NetnsID], m)
			if m6 := progAddrType6Map(e.prog); m6 != nil {
				keep[e.NetnsID] = append(keep[e.NetnsID], m6)
			}
		}
	}
	for _, id := range s.atSorted() {
		mir := s.atMirrors[id]
		if mir.Retain(keep[id]) > 0 {
			continue
		}
		if err := mir.Close(); err != nil {
			s.log.Warn("stopping the address type route mirror", "netns", id, "err", err)
		}
		delete(s.atMirrors, id)
	}
}

// atRestore refills the maps of restored chains from their namespaces'
// current routes and follows them again. Failures are logged: the chains
// are in force either way, with the routes of when the daemon stopped.
// s.mu must be held.
func (s *State) atRestore() {
	for _, n := range s.sortedNames() {
		e := s.chains[n]
		m := e.addrTypeMap()
		if m == nil || !e.Attached {
			continue
		}
		id := e.NetnsID
		mir, err := s.atMirror(func(fn func() error) error { return s.ns.InNetnsID(id, fn) }, id)
		if err == nil {
			err = mir.Add(m)
		}
		if err == nil {
			err = atAdd6(mir, e.prog)
		}
		var gone *netnsGoneError
		if err != nil && !errors.As(err, &gone) {
			s.log.Error("refilling the address type table of a restored chain failed; it keeps the routes of when the daemon stopped", "chain", n, "netns", id, "err", err)
		}
	}
}

// atShutdown stops every mirror. s.mu must be held.
func (s *State) atShutdown() error {
	var errs []error
	for _, id := range s.atSorted() {
		errs = append(errs, s.atMirrors[id].Close())
		delete(s.atMirrors, id)
	}
	return errors.Join(errs...)
}

func (s *State) atSorted() []uint64 {
	out := make([]uint64, 0, len(s.atMirrors))
	for id := range s.atMirrors {
		out = append(out, id)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
