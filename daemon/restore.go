package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/bpfilter-go/bpfilter/engine"
	"github.com/bpfilter-go/bpfilter/ir"
)

// Restore loads the saved context and re-opens the pinned objects of every
// chain. When a restore step fails, nothing is changed (restored handles are
// released, not closed) and the error says why. An update that was pending
// when the previous daemon died is applied again, so either the previous or
// the new version of the chains is in force, never a mix. Standard mode only.
func (s *State) Restore() error {
	if !s.persistent() {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sc, err := readContext(s.ctxFile)
	if err != nil {
		return fmt.Errorf("restoring the runtime context: %w", err)
	}
	s.epochFloor = max(s.epochFloor, sc.epochFloor)
	if sc.dropped > 0 {
		s.log.Warn("dropped a torn record at the end of the context journal (a change the previous daemon had not made durable)", "bytes", sc.dropped)
	}
	var restored []*entry
	for _, e := range sc.Chains {
		prog, err := s.restoreEntry(e, sc.Pending)
		if err != nil {
			for _, r := range restored {
				r.prog.Release()
				r.prog = nil
			}
			return fmt.Errorf("restoring chain %s from %s: %w", e.name(), s.pinDir(e), err)
		}
		e.prog = prog
		restored = append(restored, e)
	}
	for _, e := range restored {
		s.chains[e.name()] = e
	}
	s.nextGen = sc.NextGen
	s.ipt = sc.Iptables
	if sc.Pending != nil {
		s.finishPending(sc.Pending)
	} else if s.reloaded {
		if err := s.save(nil); err != nil {
			s.log.Error("saving the context after reloading chains changed in place", "err", err)
		}
	}
	s.reloaded = false
	if s.jr == nil {
		// Start this daemon's journal after a snapshot of what was
		// restored (the old journal is replayed in it).
		if err := s.snapshot(nil); err != nil {
			s.log.Error("saving the restored context", "err", err)
		}
	}
	s.removeStalePins()
	s.ctRestore()
	s.atRestore()
	return nil
}

// restoreEntry re-opens the pins of e, in the network namespace it was
// attached in. When an interrupted update had already swapped a successor
// into e's pin directory, the successor is what is pinned (and in force):
// e then becomes that successor.
func (s *State) restoreEntry(e *entry, pending *pendingPlan) (Program, error) {
	restore := func(c *ir.Chain, users []*ir.Chain) (prog Program, err error) {
		run := func() error {
			prog, err = s.restoreProg(s.pinDir(e), e, c, users)
			return err
		}
		err = s.ns.InNetnsID(e.NetnsID, run)
		var nerr *netnsGoneError
		if errors.As(err, &nerr) {
			// The namespace died, and the attachment with it: re-open the
			// pins from the daemon's own namespace.
			s.log.Warn("the chain's network namespace is gone", "chain", e.name(), "netns", e.NetnsID)
			err = run()
		}
		return prog, err
	}
	prog, err := restore(e.Chain, e.Users)
	if err != nil && errors.Is(err, engine.ErrUpdated) {
		// Changed in place (inplace.go): load the version in force, or
		// the one an interrupted in-place update was writing, again.
		target := e
		if pending != nil {
			for _, n := range pending.Add {
				if s.pinDir(n) == s.pinDir(e) {
					target = n
				}
			}
		}
		p2, err2 := s.reloadUpdated(e, target)
		if err2 == nil {
			s.reloaded = true
			return p2, nil
		}
		return nil, errors.Join(err, err2)
	}
	if err != nil && pending == nil && e.Slots != nil {
		p2, rerr := s.rebuildReload(e)
		if rerr == nil {
			return p2, nil
		}
		err = errors.Join(err, rerr)
	}
	if err == nil || pending == nil {
		return prog, err
	}
	for _, n := range pending.Add {
		if s.pinDir(n) != s.pinDir(e) {
			continue
		}
		p2, err2 := restore(n.Chain, n.Users)
		if err2 != nil && e.Attached {
			// Killed between the unpin and the re-pin of an in-place
			// swap: only the links are pinned. Rebuild the directory with
			// the new version, which the links run.
			if r, ok := s.loader.(repairer); ok {
				rerr := s.ns.InNetnsID(e.NetnsID, func() error { return r.Repair(s.pinDir(e), n.Chain) })
				if rerr == nil {
					s.log.Warn("rebuilt the pins of a chain interrupted in the middle of a swap", "chain", n.name(), "dir", s.pinDir(e))
					p2, err2 = restore(n.Chain, n.Users)
				} else {
					s.log.Error("repairing the pins of an interrupted swap", "chain", n.name(), "err", rerr)
				}
			}
		}
		if err2 == nil {
			s.log.Info("the interrupted update had already replaced the chain", "chain", e.name())
			e.Chain, e.Offsets, e.Users = n.Chain.Clone(), n.Offsets, n.Users
			return p2, nil
		}
	}
	return nil, err
}

// finishPending applies an update the previous daemon did not commit. If
// that fails, the committed chains it touched are loaded again from their
// IR and swapped in, so the committed version is the one in force.
func (s *State) finishPending(pp *pendingPlan) {
	for _, e := range pp.Add {
		// Objects of the interrupted attempt: drop them, links included
		// (not the directory shared with the chain e replaces in place).
		if !s.pinInUse(filepath.Base(s.pinDir(e))) {
			os.RemoveAll(s.pinDir(e))
		}
	}
	p := &plan{front: pp.Front, add: pp.Add, remove: pp.Remove, ipt: pp.Iptables}
	p.over = s.takeovers(p)
	err := s.swap(p)
	if err == nil {
		if err = s.commit(p); err == nil {
			s.log.Info("applied the update interrupted by the previous daemon", "chains", nameList(pp.Add), "removed", strings.Join(pp.Remove, ","))
			return
		}
	}
	s.log.Error("could not apply the update interrupted by the previous daemon; forcing the committed chains back", "err", err)
	back := &plan{front: pp.Front}
	for _, e := range pp.Add {
		old := s.chains[e.name()]
		if old == nil || !old.Attached {
			continue
		}
		n := *old
		n.prog, n.Offsets = nil, old.Offsets
		n.carry, n.carryPolicy, n.carryErrors = identity(len(old.Chain.Rules)), true, true
		back.add = append(back.add, &n)
	}
	if len(back.add) == 0 {
		if err := s.save(nil); err != nil {
			s.log.Error("saving the context", "err", err)
		}
		return
	}
	if err := s.apply(back); err != nil {
		s.log.Error("forcing the committed chains back failed", "err", err)
	}
}

// removeStalePins removes pin directories no chain refers to (left by an
// update interrupted after pinning).
func (s *State) removeStalePins() {
	if s.pinRoot == "" {
		return
	}
	live := map[string]bool{}
	for _, e := range s.chains {
		live[filepath.Base(s.pinDir(e))] = true
	}
	des, err := os.ReadDir(s.pinRoot)
	if err != nil {
		return
	}
	for _, de := range des {
		name := de.Name()
		i := strings.LastIndexByte(name, '@')
		if i < 0 || live[name] {
			continue
		}
		if _, err := strconv.ParseUint(name[i+1:], 10, 64); err != nil {
			continue
		}
		if err := os.RemoveAll(filepath.Join(s.pinRoot, name)); err != nil {
			s.log.Warn("removing a stale pin directory", "dir", name, "err", err)
		}
	}
}

// Shutdown ends the daemon's hold on its chains. clear (transient mode)
// detaches, unloads and unpins everything; otherwise the kernel objects stay
// pinned and in force, and only the daemon's handles are closed.
func (s *State) Shutdown(clear bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !clear {
		s.compactOnStop()
	}
	defer func() {
		s.jr.close()
		s.jr = nil
	}()
	var errs []error
	for _, n := range s.sortedNames() {
		e := s.chains[n]
		if e.prog == nil {
			continue
		}
		var err error
		if clear {
			err = e.prog.Close()
		} else {
			err = e.prog.Release()
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("chain %s: %w", n, err))
		}
		e.prog = nil
	}
	if err := s.atShutdown(); err != nil {
		errs = append(errs, fmt.Errorf("address type route mirrors: %w", err))
	}
	if clear {
		s.chains = map[string]*entry{}
		if err := s.ctShutdown(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
