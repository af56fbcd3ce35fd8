package daemon

import (
	"errors"
	"os"
	"path/filepath"

	"github.com/bpfilter-go/bpfilter/daemon/proto"
)

// plan is one atomic change of the context: chains to add or replace, and
// chains to remove. Every new chain is loaded, then attached (or swapped
// into the attachment of the chain it replaces), and only then are the
// old chains closed. A failure at any step undoes the steps before it, so
// the old chains keep filtering, unchanged.
type plan struct {
	front  string
	add    []*entry
	remove []string
	// via is the client the plan comes from (nil on restore).
	via Peer
	// over maps a new chain to the attached chain whose attachment it
	// takes over in place (see takeovers).
	over map[*entry]*entry
	// ipt, when set, replaces the iptables front's stored tables on
	// commit (saved with the plan, so both change together).
	ipt iptTables
}

// inNetns runs fn in network namespace id, through the requesting peer when
// it is the peer's.
func (s *State) inNetns(p *plan, id uint64, fn func() error) error {
	if p.via != nil && p.via.NetnsID() == id {
		return p.via.InNetns(fn)
	}
	return s.ns.InNetnsID(id, fn)
}

// takeovers decides which new chains take over an attachment in place
// (one atomic Replace instead of attach-then-detach): a chain replacing an
// attached chain of the same name on the same spot, else a chain landing on
// the spot of an attached chain the plan removes or moves elsewhere (two
// XDP programs cannot be attached to one interface at once).
func (s *State) takeovers(p *plan) map[*entry]*entry {
	out := map[*entry]*entry{}
	used := map[*entry]bool{}
	fits := func(e, old *entry) bool {
		return e.Attached && old != nil && old.Attached && !used[old] &&
			old.Chain.Hook == e.Chain.Hook && sameKeys(old.Keys, e.Keys)
	}
	for _, e := range p.add {
		if old := s.chains[e.name()]; fits(e, old) {
			out[e], used[old] = old, true
		}
	}
	var leaving []string
	leaving = append(leaving, p.remove...)
	for _, e := range p.add {
		if _, ok := out[e]; !ok && s.chains[e.name()] != nil {
			leaving = append(leaving, e.name())
		}
	}
	for _, e := range p.add {
		if _, ok := out[e]; ok {
			continue
		}
		for _, n := range leaving {
			if old := s.chains[n]; fits(e, old) {
				out[e], used[old] = old, true
				break
			}
		}
	}
	return out
}

// apply runs a plan: it records it as pending (standard mode), swaps it in,
// commits. s.mu must be held.
func (s *State) apply(p *plan) error {
	p.over = s.takeovers(p)
	s.assignGens(p)
	if err := s.ctEnsure(p); err != nil {
		return err
	}
	if err := s.savePlan(p, nil, nil); err != nil {
		s.ctRelease(p)
		return err
	}
	s.crash("pending-saved")
	if err := s.swap(p); err != nil {
		if serr := s.save(nil); serr != nil {
			err = errors.Join(err, serr)
		}
		s.ctRelease(p)
		s.atRelease()
		return err
	}
	err := s.commit(p)
	s.ctRelease(p)
	s.atRelease()
	return err
}

// assignGens gives each new chain its pin directory: a chain that takes
// over an attachment in place keeps the directory of the chain it replaces
// (Replace re-pins there), any other gets a new one.
func (s *State) assignGens(p *plan) {
	for _, e := range p.add {
		if old := p.over[e]; old != nil {
			e.Gen, e.Pin = old.Gen, filepath.Base(s.pinDir(old))
			continue
		}
		e.Gen = s.nextGen
		e.Pin = pinName(e.name(), e.Gen)
		s.nextGen++
	}
}

// swap loads, attaches, replaces and pins the plan's chains. On failure
// nothing of the plan is left in force.
func (s *State) swap(p *plan) error {
	over := map[*entry]bool{}
	for _, e := range p.add {
		over[e] = p.over[e] != nil
	}
	var loaded []*entry
	cleanup := func() {
		for _, e := range loaded {
			if err := e.prog.Close(); err != nil {
				s.log.Warn("closing an abandoned chain", "chain", e.name(), "err", err)
			}
			e.prog = nil
			if s.pinRoot != "" && !over[e] {
				os.RemoveAll(s.pinDir(e))
			}
		}
	}
	for _, e := range p.add {
		prog, err := s.load(e, e.Chain)
		if err != nil {
			cleanup()
			return errorf(Errno(err), "loading chain %s: %w", e.name(), err)
		}
		e.prog = prog
		loaded = append(loaded, e)
		if err := s.atFill(p, e, prog); err != nil {
			cleanup()
			return err
		}
	}
	s.crash("loaded")
	for _, e := range p.add {
		if !e.Attached || over[e] {
			continue
		}
		err := s.inNetns(p, e.NetnsID, func() error { return e.prog.Attach(e.attachOpts()) })
		if err != nil {
			cleanup()
			return errorf(Errno(err), "attaching chain %s to %s: %w", e.name(), e.Chain.Hook, err)
		}
	}
	s.crash("attached")
	// Offsets are computed before the swaps: Replace spends the old
	// programs.
	for _, e := range p.add {
		s.carryCounters(e, p.over[e])
	}
	var replaced []*entry
	rollback := func() {
		for i := len(replaced) - 1; i >= 0; i-- {
			s.swapBack(p, replaced[i])
		}
	}
	for _, e := range p.add {
		if !over[e] {
			continue
		}
		old := p.over[e]
		if err := s.inNetns(p, old.NetnsID, func() error { return old.prog.Replace(e.prog) }); err != nil {
			rollback()
			cleanup()
			return errorf(Errno(err), "replacing chain %s: %w", e.name(), err)
		}
		replaced = append(replaced, e)
	}
	s.crash("replaced")
	if s.pinRoot != "" {
		for _, e := range p.add {
			if over[e] {
				continue
			}
			dir := s.pinDir(e)
			err := os.RemoveAll(dir)
			if err == nil {
				err = os.MkdirAll(dir, 0o700)
			}
			if err == nil {
				err = e.prog.Pin(dir)
			}
			if err != nil {
				rollback()
				cleanup()
				return errorf(proto.EIO, "pinning chain %s in %s: %w", e.name(), dir, err)
			}
		}
	}
	s.crash("pinned")
	return nil
}

// swapBack undoes a successful Replace of old by e: the old chain is
// loaded again and swapped back in (the swap carries the counters back).
func (s *State) swapBack(p *plan, e *entry) {
	old := p.over[e]
	fresh, err := s.load(old, old.Chain)
	if err == nil {
		if err = s.atFill(p, old, fresh); err != nil {
			fresh.Close()
		}
	}
	if err == nil {
		err = s.inNetns(p, old.NetnsID, func() error { return e.prog.Replace(fresh) })
		if err != nil {
			fresh.Close()
		}
	}
	if err != nil {
		s.log.Error("rolling back a replaced chain failed; the new version stays in force", "chain", e.name(), "err", err)
		// The kernel runs e's program: make the context say so.
		old.Chain, old.prog = e.Chain, e.prog
		e.prog = nil
		return
	}
	old.prog = fresh
}

// commit installs the plan's chains in the context, saves it, and closes
// the chains they replaced or the plan removed.
func (s *State) commit(p *plan) error {
	var olds []*entry
	for _, e := range p.add {
		if old := s.chains[e.name()]; old != nil {
			olds = append(olds, old)
		}
		s.chains[e.name()] = e
	}
	if p.ipt != nil {
		s.ipt = p.ipt
	}
	for _, n := range p.remove {
		if old := s.chains[n]; old != nil {
			olds = append(olds, old)
			delete(s.chains, n)
		}
	}
	serr := s.saveCommit(p)
	s.crash("committed")
	for _, old := range olds {
		s.closeEntry(old)
	}
	if serr != nil {
		return errorf(proto.EIO, "the change is in force, but saving the context failed (it is applied again on restart): %w", serr)
	}
	return nil
}

// closeEntry detaches, unloads and unpins an entry's program. The pin
// directory is kept when a successor took it over.
func (s *State) closeEntry(e *entry) {
	for _, cancel := range e.watchers {
		cancel()
	}
	e.watchers = nil
	if e.prog != nil {
		if err := e.prog.Close(); err != nil {
			s.log.Warn("closing chain", "chain", e.name(), "err", err)
		}
		e.prog = nil
	}
	if s.pinInUse(filepath.Base(s.pinDir(e))) {
		return
	}
	if s.pinRoot != "" {
		if err := os.RemoveAll(s.pinDir(e)); err != nil {
			s.log.Warn("removing pin directory", "dir", s.pinDir(e), "err", err)
		}
	}
}
