package daemon

import (
	"errors"
	"os"
	"path/filepath"

	"github.com/bpfilter-go/bpfilter/backend"
	"github.com/bpfilter-go/bpfilter/daemon/proto"
	"github.com/bpfilter-go/bpfilter/engine"
	"github.com/bpfilter-go/bpfilter/ir"
)

// In-place updates. chain.update and chain.update-set first ask the
// loaded program to become the new version with map writes only
// (engine.Chain.PrepareUpdate / Apply): the program, its attachment, its
// pins and the counters of unchanged rules stay. The writes are not one
// atomic step: while they are applied, a packet may see some of the changed
// entries old and some new. The daemon accepts that for
//   - set elements (update-set): each element is an independent key, a
//     packet sees each element either present or absent;
//   - a chain.update changing at most maxInPlaceRules rules (added plus
//     removed): the window is the time of a few dozen map writes, and each
//     packet meets the changed rules either in their old or new form, or
//     in a mix of the two only for those few rules.
// A bigger change, or one the program shape does not allow (the engine
// says why; logged at debug level), goes through the atomic Replace path.
//
// Crash safety: the new entry (same pin directory as the old one) is saved
// as the pending plan, with the old entry's counter slots, before the first
// write. A restart after a kill -9 then either restores the old pins (no
// rule was inserted or deleted: the numbering is a fresh compile's) and
// applies the pending plan with Replace, or, when the pins carry the
// engine's "updated" marker (engine.ErrUpdated), reads the pinned counters
// at the recorded slots and reloads the new version from its IR into the
// pinned links (reloader), carrying the counters as offsets. Either way
// the new version is in force after the restart.

// maxInPlaceRules bounds the rules (added plus removed) a chain.update may
// change in place; a bigger change is swapped in atomically by Replace.
const maxInPlaceRules = 16

// inPlace is a planned in-place update, not yet written.
type inPlace interface {
	// Apply writes it; on error the program may be partly updated.
	Apply() error
}

// updater is implemented by programs that can become another version of
// their chain with map writes only.
type updater interface {
	// PrepareUpdate plans the update; nil and a reason when it needs a
	// reload. Nothing is written.
	PrepareUpdate(next *ir.Chain) (inPlace, string, error)
	// Slots are the program's counter slots.
	Slots() engine.Slots
}

// reloader is implemented by loaders that can replace a pinned program the
// engine refuses to restore (changed in place, engine.ErrUpdated): Reload
// reads the pinned counters at slots, loads c from its IR, swaps it into
// the links pinned in dir and pins it there. It runs in the chain's
// network namespace.
type reloader interface {
	Reload(dir string, slots engine.Slots, c *ir.Chain) (Program, proto.Counters, error)
}

// changedRules counts the rules of prev that carry no counter into next
// and the rules of next that take none (removed plus added); carry is
// matchRules(prev, next).
func changedRules(prev *ir.Chain, carry []int) int {
	kept := 0
	for _, i := range carry {
		if i >= 0 {
			kept++
		}
	}
	return len(prev.Rules) - kept + len(carry) - kept
}

// updateInPlace tries to turn old into n in place (n.carry set). done is
// false, with nothing changed, when the Replace path must be used. s.mu
// must be held.
func (s *State) updateInPlace(front string, old, n *entry, peer Peer) (done bool, err error) {
	up, ok := old.prog.(updater)
	if !ok || s.inPlaceOff || len(old.Users) > 0 || len(n.Users) > 0 {
		return false, nil
	}
	pu, reason, err := up.PrepareUpdate(n.Chain)
	if err != nil {
		s.log.Debug("in-place update not possible, reloading", "chain", n.name(), "err", err)
		return false, nil
	}
	if pu == nil {
		s.log.Debug("in-place update not possible, reloading", "chain", n.name(), "reason", reason)
		return false, nil
	}
	p := &plan{front: front, add: []*entry{n}, via: peer}
	n.Gen, n.Pin = old.Gen, filepath.Base(s.pinDir(old))
	s.carryCounters(n, old)
	prevSlots := old.Slots
	sl := up.Slots()
	old.Slots = &sl
	if err := s.savePlan(p, old, prevSlots); err != nil {
		old.Slots = prevSlots
		return true, err
	}
	s.crash("inplace-saved")
	if err := pu.Apply(); err != nil {
		return true, s.afterFailedInPlace(p, n, err)
	}
	s.crash("inplace-written")
	after := up.Slots()
	n.Slots = &after
	n.prog, old.prog = old.prog, nil
	n.watchers, old.watchers = old.watchers, nil
	s.log.Debug("chain updated in place", "chain", n.name())
	return true, s.commit(p)
}

// afterFailedInPlace forces the new version in with Replace after a failed
// in-place write (the program may hold a mix). If that fails too, the
// pending plan is saved again, so a restart applies the new version.
func (s *State) afterFailedInPlace(p *plan, n *entry, werr error) error {
	s.log.Warn("in-place update failed part way; loading the new version", "chain", n.name(), "err", werr)
	n.Gen, n.Pin, n.Slots = 0, "", nil
	n.Offsets = proto.Counters{}
	err := s.apply(&plan{front: p.front, add: p.add, via: p.via})
	if err == nil {
		return nil
	}
	if serr := s.save(p); serr != nil {
		s.log.Error("saving the pending update", "err", serr)
	}
	return errorf(proto.EIO, "chain %s: the in-place update failed (%v) and loading the new version failed: %w; the chain may be partly updated, the daemon applies the update again when it restarts", n.name(), werr, err)
}

// reloadUpdated loads target (e itself, or the pending version that was
// being written in place into e's pins) into e's pinned links, when the
// engine refuses e's pins because they were changed in place. Counters are
// read at e's recorded slots and carried as offsets. On success e becomes
// target.
func (s *State) reloadUpdated(e, target *entry) (Program, error) {
	r, ok := s.loader.(reloader)
	if !ok || e.Slots == nil || len(target.Users) > 0 {
		return nil, errorf(proto.EIO, "chain %s was changed in place and cannot be reloaded (no counter slots recorded)", e.name())
	}
	var prog Program
	var kc proto.Counters
	err := s.ns.InNetnsID(e.NetnsID, func() error {
		var err error
		prog, kc, err = r.Reload(s.pinDir(e), *e.Slots, target.Chain)
		return err
	})
	if err != nil {
		return nil, err
	}
	oldTotal := proto.Counters{Rules: make([]proto.Counter, len(e.Chain.Rules)), Policy: kc.Policy.Add(e.Offsets.Policy), Errors: kc.Errors.Add(e.Offsets.Errors)}
	for i := range oldTotal.Rules {
		if i < len(kc.Rules) {
			oldTotal.Rules[i] = kc.Rules[i]
		}
		if i < len(e.Offsets.Rules) {
			oldTotal.Rules[i] = oldTotal.Rules[i].Add(e.Offsets.Rules[i])
		}
	}
	off := proto.Counters{Rules: make([]proto.Counter, len(target.Chain.Rules)), Policy: oldTotal.Policy, Errors: oldTotal.Errors}
	for j, i := range matchRules(e.Chain, target.Chain) {
		if i >= 0 {
			off.Rules[j] = oldTotal.Rules[i]
		}
	}
	s.log.Warn("reloaded a chain changed in place (its pins number rules differently from a fresh compile)", "chain", e.name())
	e.Chain, e.Users, e.Offsets, e.Slots = target.Chain.Clone(), target.Users, off, nil
	return prog, nil
}

// rebuildReload handles a daemon killed inside reloadUpdated, after the
// old pins were removed and before the new ones were made: the program pin
// is missing (an attached chain keeps its link pins). e's version is
// loaded again and pinned (swapped into the pinned links when attached);
// the counts since the last save are lost, the offsets stay.
func (s *State) rebuildReload(e *entry) (Program, error) {
	dir := s.pinDir(e)
	if _, err := os.Stat(filepath.Join(dir, backend.ProgramName)); !errors.Is(err, os.ErrNotExist) {
		return nil, errors.New("the program pin is there: not an interrupted reload")
	}
	if e.Attached {
		r, ok := s.loader.(repairer)
		if !ok {
			return nil, errors.New("the loader cannot repair pins")
		}
		if err := s.ns.InNetnsID(e.NetnsID, func() error { return r.Repair(dir, e.Chain) }); err != nil {
			return nil, err
		}
	} else {
		prog, err := s.loader.Load(e.Chain)
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(dir, 0o700); err == nil {
			err = prog.Pin(dir)
		}
		if err != nil {
			prog.Close()
			return nil, err
		}
		if err := prog.Release(); err != nil {
			return nil, err
		}
	}
	var prog Program
	err := s.ns.InNetnsID(e.NetnsID, func() error {
		var err error
		prog, err = s.restoreProg(dir, e, e.Chain, e.Users)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.log.Warn("reloaded a chain whose reload was interrupted; its counts since the last save are lost", "chain", e.name())
	e.Slots = nil
	s.reloaded = true
	return prog, nil
}
