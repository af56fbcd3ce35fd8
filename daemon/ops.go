package daemon

import (
	"context"

	"github.com/bpfilter-go/bpfilter/daemon/proto"
	"github.com/bpfilter-go/bpfilter/ir"
)

// RulesetSet replaces every chain of front with rs, atomically: all new
// chains are loaded and attached before any old one is touched.
func (s *State) RulesetSet(front string, rs *ir.Ruleset, peer Peer, dryRun bool) error {
	if rs == nil {
		return errorf(proto.EINVAL, "ruleset.set needs a ruleset")
	}
	if err := rs.Validate(); err != nil {
		return errorf(proto.EINVAL, "%w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := &plan{front: front, via: peer}
	keep := map[string]bool{}
	for _, c := range rs.Chains {
		e, err := s.prepare(front, c, peer, true)
		if err != nil {
			return err
		}
		p.add = append(p.add, e)
		keep[c.Name] = true
	}
	for _, n := range s.sortedNames() {
		if s.chains[n].Front == front && !keep[n] {
			p.remove = append(p.remove, n)
		}
	}
	if err := s.checkPlan(p); err != nil {
		return err
	}
	if dryRun {
		return nil
	}
	return s.apply(p)
}

// RulesetFlush removes every chain of front.
func (s *State) RulesetFlush(front string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := &plan{front: front}
	for _, n := range s.sortedNames() {
		if s.chains[n].Front == front {
			p.remove = append(p.remove, n)
		}
	}
	if len(p.remove) == 0 {
		return nil
	}
	return s.apply(p)
}

// RulesetGet returns every chain of front with its counters.
func (s *State) RulesetGet(front string, noSetContent bool) ([]proto.ChainState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []proto.ChainState{}
	for _, n := range s.sortedNames() {
		e := s.chains[n]
		if e.Front != front {
			continue
		}
		cs, err := s.chainState(e, noSetContent)
		if err != nil {
			return nil, err
		}
		out = append(out, cs)
	}
	return out, nil
}

// ChainSet loads c and attaches it when it has hook options, replacing the
// chain of the same name atomically (in place when it stays on the same
// attachment).
func (s *State) ChainSet(front string, c *ir.Chain, peer Peer, dryRun bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.prepare(front, c, peer, true)
	if err != nil {
		return err
	}
	p := &plan{front: front, add: []*entry{e}, via: peer}
	if err := s.checkPlan(p); err != nil {
		return err
	}
	if dryRun {
		return nil
	}
	return s.apply(p)
}

// ChainLoad loads c without attaching it; an existing chain of that name is
// an error.
func (s *State) ChainLoad(front string, c *ir.Chain, peer Peer, dryRun bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.prepare(front, c, peer, false)
	if err != nil {
		return err
	}
	if s.chains[c.Name] != nil {
		return errorf(proto.EEXIST, "chain %s already exists (use chain set or chain update to replace it)", c.Name)
	}
	if dryRun {
		return nil
	}
	return s.apply(&plan{front: front, add: []*entry{e}, via: peer})
}

// ChainAttach attaches a loaded chain with opts. A fresh program is loaded
// and attached, then the unattached one is closed; counters carry over.
func (s *State) ChainAttach(front, name string, opts ir.HookOpts, peer Peer) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.ownEntry(front, name)
	if err != nil {
		return err
	}
	if e.Attached {
		return errorf(proto.EEXIST, "chain %s is already attached (use chain set to move it)", name)
	}
	if opts.IsZero() {
		return errorf(proto.EINVAL, "chain attach needs hook options (%s)", requiredOpt(e.Chain.Hook))
	}
	c := e.Chain.Clone()
	c.HookOpts = opts
	n, err := s.prepare(front, c, peer, true)
	if err != nil {
		return err
	}
	n.carry, n.carryPolicy, n.carryErrors = identity(len(c.Rules)), true, true
	p := &plan{front: front, add: []*entry{n}, via: peer}
	if err := s.checkPlan(p); err != nil {
		return err
	}
	return s.apply(p)
}

// ChainUpdate replaces an existing chain with c, keeping its attachment
// (c's hook options are ignored) and the counters of the rules that did
// not change: in place when at most maxInPlaceRules rules change and the
// program allows it (see inplace.go for what a packet may see meanwhile),
// else atomically.
func (s *State) ChainUpdate(front string, c *ir.Chain, peer Peer, dryRun bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, err := s.ownEntry(front, c.Name)
	if err != nil {
		return err
	}
	if _, err := s.prepare(front, c, nil, false); err != nil {
		return err
	}
	n, err := successor(old, c)
	if err != nil {
		return err
	}
	n.carry, n.carryPolicy, n.carryErrors = matchRules(old.Chain, n.Chain), true, true
	if dryRun {
		return nil
	}
	// A small change is written in place (inplace.go).
	if changedRules(old.Chain, n.carry) <= maxInPlaceRules {
		if done, err := s.updateInPlace(front, old, n, peer); done {
			return err
		}
	}
	return s.apply(&plan{front: front, add: []*entry{n}, via: peer})
}

// ChainUpdateSet adds and removes elements of a named set, keeping every
// counter: in place when the program allows it (each element is written
// on its own), else atomically (a new program replaces the old one).
func (s *State) ChainUpdateSet(front, name, set string, add, remove []string, peer Peer, dryRun bool) error {
	if len(add) == 0 && len(remove) == 0 {
		return errorf(proto.EINVAL, "chain update-set needs at least one element to add or remove")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, err := s.ownEntry(front, name)
	if err != nil {
		return err
	}
	// The set is edited on a copy; the rules are shared with the
	// committed chain (setdelta.go).
	d, err := setDeltaOf(old.Chain, set, add, remove, peer)
	if err != nil {
		return err
	}
	c, err := withSetDelta(old.Chain, d)
	if err != nil {
		return err
	}
	n := successorShared(old, c)
	n.delta = &chainDelta{BaseRules: len(old.Chain.Rules), Set: d, base: old.Chain}
	n.carry, n.carryPolicy, n.carryErrors = identity(len(c.Rules)), true, true
	if dryRun {
		return nil
	}
	// Set elements are written in place when the program allows it
	// (inplace.go).
	if done, err := s.updateInPlace(front, old, n, peer); done {
		return err
	}
	return s.apply(&plan{front: front, add: []*entry{n}, via: peer})
}

// ChainFlush detaches, unloads and forgets a chain.
func (s *State) ChainFlush(front, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.ownEntry(front, name); err != nil {
		return err
	}
	return s.apply(&plan{front: front, remove: []string{name}})
}

// ChainGet returns one chain with its counters.
func (s *State) ChainGet(front, name string, noSetContent bool) (proto.ChainState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.ownEntry(front, name)
	if err != nil {
		return proto.ChainState{}, err
	}
	return s.chainState(e, noSetContent)
}

// ChainLogs streams a chain's log records to fn until ctx ends or the chain
// goes away (flushed, or replaced by an update: the stream then ends and
// the client opens a new one).
func (s *State) ChainLogs(ctx context.Context, front, name string, fn func(proto.LogEntry)) error {
	s.mu.Lock()
	e, err := s.ownEntry(front, name)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	read, err := e.prog.OpenLogs()
	if err != nil {
		s.mu.Unlock()
		return errorf(proto.EIO, "reading logs of chain %s: %w", name, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if e.watchers == nil {
		e.watchers = map[uint64]context.CancelFunc{}
	}
	s.nextWatch++
	id := s.nextWatch
	e.watchers[id] = cancel
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(e.watchers, id)
		s.mu.Unlock()
	}()
	if err := read(ctx, fn); err != nil && ctx.Err() == nil {
		return errorf(proto.EIO, "reading logs of chain %s: %w", name, err)
	}
	return nil
}

func (s *State) chainState(e *entry, noSetContent bool) (proto.ChainState, error) {
	cnt, err := e.counters()
	if err != nil {
		return proto.ChainState{}, errorf(proto.EIO, "reading counters of chain %s: %w", e.name(), err)
	}
	c := e.Chain.Clone()
	sizes := map[string]int{}
	for _, st := range c.Sets {
		sizes[st.Name] = len(st.Elems)
		if noSetContent {
			st.Elems = nil
		}
	}
	return proto.ChainState{Chain: c, Front: e.Front, Attached: e.Attached, SetSizes: sizes, Counters: &cnt}, nil
}
