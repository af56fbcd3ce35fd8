package engine

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/bpfilter-go/bpfilter/backend"
	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/bpfilter-go/bpfilter/optimizer"
)

// Update tries to turn the loaded chain into next with map writes only:
// it plans next with the loaded plan as Previous (rule IDs, priorities and
// table capacities kept), and when optimizer.Diff and the backend find the
// program unchanged (backend.PlanUpdate, no code generation), it writes the
// changed table, filter, class, set and action entries and zeroes the
// counters of the IDs that now name new rules. The program (and its ID)
// stays; counters of unchanged rules survive. It returns false, with the
// reason, when a reload is needed (then nothing was written; use Replace).
//
// The writes are not one atomic step: while they are applied a packet may
// see a mix of the old and the new entries of the changed rules.
func (c *Chain) Update(next *ir.Chain) (updated bool, reason string, err error) {
	u, reason, err := c.PrepareUpdate(next)
	if u == nil {
		return false, reason, err
	}
	if err := u.Apply(); err != nil {
		return false, "", err
	}
	return true, "", nil
}

// PendingUpdate is an Update planned and not yet written: PrepareUpdate
// checks and plans, Apply writes. Between the two a caller can record its
// intent (the daemon saves its pending plan there).
type PendingUpdate struct {
	c    *Chain
	old  *backend.Program
	next *ir.Chain
	u    *backend.Update
}

// PrepareUpdate is the planning half of Update: it returns nil and the
// reason when a reload is needed. Nothing is written; the chain must not
// change before Apply.
func (c *Chain) PrepareUpdate(next *ir.Chain) (*PendingUpdate, string, error) {
	if c.coll == nil {
		return nil, "", fmt.Errorf("engine: update chain %s: chain is closed", c.IR.Name)
	}
	if next == nil {
		return nil, "", errors.New("engine: update with a nil chain")
	}
	old := c.Program
	if c.opts.Ruleset != nil {
		return nil, "chain inlines user chains", nil
	}
	if old.Plan == nil {
		return nil, "loaded program has no plan", nil
	}
	if next.Name != c.IR.Name || next.Hook != c.IR.Hook {
		return nil, "chain name or hook changed", nil
	}
	u, reason, err := backend.PlanUpdate(old, next, c.opts.backendOptions(nil))
	if err != nil {
		return nil, "", fmt.Errorf("engine: update chain %s: %w", next.Name, err)
	}
	if u == nil {
		return nil, reason, nil
	}
	return &PendingUpdate{c: c, old: old, next: next, u: u}, "", nil
}

// Apply writes the planned update (see Update). On error the chain may be
// partly updated: reload it.
func (pu *PendingUpdate) Apply() error {
	c, next, u := pu.c, pu.next, pu.u
	if c.coll == nil {
		return fmt.Errorf("engine: update chain %s: chain is closed", c.IR.Name)
	}
	if c.Program != pu.old {
		return fmt.Errorf("engine: update chain %s: the chain changed since the update was planned", next.Name)
	}
	if err := c.applyDelta(u.Program, &u.Delta, u.Actions); err != nil {
		return fmt.Errorf("engine: update chain %s: %w (the chain may be partly updated)", next.Name, err)
	}
	p := u.Program
	nextIR := next
	if nextIR.HookOpts != c.IR.HookOpts {
		nextIR = nextIR.Clone()
		nextIR.HookOpts = c.IR.HookOpts
	}
	c.IR, c.Program = nextIR, p
	if !p.Plan.FreshIdentity() || p.Plan.IDCap != uint32(len(next.Rules)+c.opts.counterHeadroom(len(next.Rules))) {
		if err := c.markUpdated(); err != nil {
			return fmt.Errorf("engine: update chain %s: applied, but Restore will not see it: %w", next.Name, err)
		}
	}
	return nil
}

// applyDelta writes d into the loaded maps; p is the new program, acts the
// action values of d.Actions.
func (c *Chain) applyDelta(p *backend.Program, d *optimizer.Delta, acts map[uint32][]byte) error {
	maps := c.coll.Maps
	m := func(name string) (*ebpf.Map, error) {
		if mp := maps[name]; mp != nil {
			return mp, nil
		}
		return nil, fmt.Errorf("map %s is not loaded", name)
	}
	if len(d.ResetCounters) > 0 {
		cpus, err := ebpf.PossibleCPU()
		if err != nil {
			return err
		}
		zero := make([]backend.Counter, cpus)
		for _, id := range d.ResetCounters {
			if err := writeCounter(maps[backend.CountersMap], id, zero); err != nil {
				return err
			}
		}
	}
	if len(d.Actions) > 0 {
		am, err := m(backend.ActionsMap)
		if err != nil {
			return err
		}
		for _, id := range d.Actions {
			v, ok := acts[id]
			if !ok {
				return fmt.Errorf("no action value for rule ID %d", id)
			}
			if err := am.Put(id, v); err != nil {
				return fmt.Errorf("write action %d: %w", id, err)
			}
		}
	}
	plan := p.Plan
	for _, td := range d.Tables {
		t := &plan.Segments[td.Segment].Tables[td.Table]
		tm, err := m(backend.TableMapName(td.Segment, td.Table))
		if err != nil {
			return err
		}
		for _, e := range td.Put {
			if err := tm.Put(t.MapKey(e.Key, e.PrefixLen), e.Value.Native()); err != nil {
				return fmt.Errorf("write table entry: %w", err)
			}
		}
		for _, e := range td.Delete {
			if err := tm.Delete(t.MapKey(e.Key, e.PrefixLen)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
				return fmt.Errorf("delete table entry: %w", err)
			}
		}
	}
	for _, fd := range d.Filters {
		f := &plan.Segments[fd.Segment].Filters[fd.Filter]
		fm, err := m(backend.FilterMapName(fd.Segment, fd.Filter))
		if err != nil {
			return err
		}
		for _, e := range fd.Put {
			if err := fm.Put(backend.FilterKey(f, e.Key, e.PrefixLen), e.Bits); err != nil {
				return fmt.Errorf("write filter entry: %w", err)
			}
		}
		for _, e := range fd.Delete {
			if err := fm.Delete(backend.FilterKey(f, e.Key, e.PrefixLen)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
				return fmt.Errorf("delete filter entry: %w", err)
			}
		}
		if len(fd.Buckets) > 0 {
			dm, err := m(backend.Dir16MapName(fd.Segment, fd.Filter))
			if err != nil {
				return err
			}
			for _, u := range fd.Buckets {
				if err := dm.Put(u.Bucket, u.Value); err != nil {
					return fmt.Errorf("write filter bucket %d: %w", u.Bucket, err)
				}
			}
		}
	}
	for _, pd := range d.Prechecks {
		pm, err := m(backend.PrecheckMapName(pd.Segment, pd.Check))
		if err != nil {
			return err
		}
		for _, u := range pd.Updates {
			if err := pm.Put(u.Bucket, u.Value); err != nil {
				return fmt.Errorf("write precheck slot %d: %w", u.Bucket, err)
			}
		}
	}
	for _, cd := range d.Classes {
		cm, err := m(backend.ClassMapName(cd.Segment, cd.Class))
		if err != nil {
			return err
		}
		for _, u := range cd.Updates {
			if err := cm.Put(u.Value, u.Class); err != nil {
				return fmt.Errorf("write class %d: %w", u.Value, err)
			}
		}
	}
	for _, sd := range d.Sets {
		s := p.Plan.Chain.Set(sd.Set)
		if s == nil {
			return fmt.Errorf("set %s is not in the chain", sd.Set)
		}
		sm, err := m(p.SetMaps[sd.Set])
		if err != nil {
			return err
		}
		for _, e := range sd.Add {
			if err := sm.Put(backend.SetKey(s, e), backend.SetValue()); err != nil {
				return fmt.Errorf("add set %s element: %w", sd.Set, err)
			}
		}
		for _, e := range sd.Delete {
			if err := sm.Delete(backend.SetKey(s, e)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
				return fmt.Errorf("delete set %s element: %w", sd.Set, err)
			}
		}
	}
	return nil
}
