package daemon

import (
	"errors"
	"fmt"
	"os"
	"sort"

	"github.com/bpfilter-go/bpfilter/engine"
	"github.com/bpfilter-go/bpfilter/ir"
)

// readContext reads the context: the snapshot, then the journal records
// continuing it (journal.go). A missing snapshot is an empty context. A
// torn journal tail is dropped (sc.dropped says how many bytes); any other
// damage is an error naming the file.
func readContext(path string) (*savedContext, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &savedContext{Version: ContextVersion, NextGen: 1}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	sc, err := decodeContext(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if sc.Version < 2 {
		return sc, nil
	}
	jp := journalPath(path)
	var jepoch uint64
	recs, dropped, err := readJournal(jp, sc.Epoch, &jepoch)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", jp, err)
	}
	for _, r := range recs {
		if err := sc.replay(r); err != nil {
			return nil, fmt.Errorf("%s: record %d: %w", jp, r.Seq, err)
		}
	}
	sc.dropped = dropped
	sc.epochFloor = max(sc.Epoch, jepoch)
	return sc, nil
}

// replay applies one journal record to the context.
func (sc *savedContext) replay(r *journalRecord) error {
	switch {
	case r.Plan != nil:
		return sc.replayPlan(r.Plan)
	case r.Commit != nil:
		return sc.replayCommit(r.Commit)
	}
	return errors.New("empty record")
}

func (sc *savedContext) chain(name string) *entry {
	for _, e := range sc.Chains {
		if e.Chain.Name == name {
			return e
		}
	}
	return nil
}

func (sc *savedContext) replayPlan(pr *planRecord) error {
	if pr.NextGen < sc.NextGen {
		return fmt.Errorf("plan: next generation %d goes back from %d", pr.NextGen, sc.NextGen)
	}
	pp := &pendingPlan{Front: pr.Front, Remove: pr.Remove, Iptables: pr.Iptables}
	if pr.Iptables != nil {
		if err := pr.Iptables.load(); err != nil {
			return fmt.Errorf("plan: %w", err)
		}
	}
	var slotsOf *entry
	var slots *engine.Slots
	if pr.InPlace != nil {
		slotsOf = sc.chain(pr.InPlace.Name)
		if slotsOf == nil {
			return fmt.Errorf("plan: in-place update of unknown chain %q", pr.InPlace.Name)
		}
		sl, err := pr.InPlace.Slots.unpack(nil, nil)
		if err != nil {
			return fmt.Errorf("plan: chain %s: %w", pr.InPlace.Name, err)
		}
		if sl != nil && len(sl.Rules) != len(slotsOf.Chain.Rules) {
			return fmt.Errorf("plan: chain %s: %d counter slots for %d rules", pr.InPlace.Name, len(sl.Rules), len(slotsOf.Chain.Rules))
		}
		slots = sl
	}
	for i, je := range pr.Add {
		e, err := sc.planEntry(je)
		if err != nil {
			return fmt.Errorf("plan chain %d: %w", i, err)
		}
		if e.Gen == 0 || e.Gen >= pr.NextGen {
			return fmt.Errorf("plan chain %q: generation %d out of range (next is %d)", e.Chain.Name, e.Gen, pr.NextGen)
		}
		pp.Add = append(pp.Add, e)
		var carry []int
		if je.Patch != nil {
			carry = deltaCarry(sc.chain(e.name()).Chain, &je.Patch.Delta)
		}
		pp.carries = append(pp.carries, carry)
	}
	if slotsOf != nil {
		slotsOf.Slots = slots
	}
	sc.NextGen = pr.NextGen
	sc.Pending = pp
	return nil
}

// planEntry builds a plan record's chain.
func (sc *savedContext) planEntry(je journalEntry) (*entry, error) {
	switch {
	case je.Entry != nil && je.Patch == nil:
		e := je.Entry
		if e.Chain == nil {
			return nil, errors.New("no chain")
		}
		if err := checkEntry(e); err != nil {
			return nil, fmt.Errorf("chain %q: %w", e.Chain.Name, err)
		}
		return e, nil
	case je.Patch != nil && je.Entry == nil:
		pa := je.Patch
		base := sc.chain(pa.Name)
		if base == nil {
			return nil, fmt.Errorf("patch of unknown chain %q", pa.Name)
		}
		c, err := applyDelta(base.Chain, &pa.Delta)
		if err != nil {
			return nil, fmt.Errorf("chain %s: %w", pa.Name, err)
		}
		e := successorShared(base, c)
		e.Gen, e.Pin = pa.Gen, pa.Pin
		if e.Offsets, err = pa.Offsets.dense(); err != nil {
			return nil, fmt.Errorf("chain %s: %w", pa.Name, err)
		}
		if err := checkEntry(e); err != nil {
			return nil, fmt.Errorf("chain %q: %w", pa.Name, err)
		}
		return e, nil
	}
	return nil, errors.New("want exactly one of entry or patch")
}

func (sc *savedContext) replayCommit(cr *commitRecord) error {
	pp := sc.Pending
	if pp == nil {
		return errors.New("commit without a pending plan")
	}
	if len(cr.Post) != len(pp.Add) {
		return fmt.Errorf("commit of %d chains, the plan has %d", len(cr.Post), len(pp.Add))
	}
	for i, e := range pp.Add {
		po := cr.Post[i]
		var base *engine.Slots
		var carry []int
		if i < len(pp.carries) {
			carry = pp.carries[i]
		}
		if old := sc.chain(e.name()); old != nil && carry != nil {
			base = old.Slots
		}
		off, err := po.Offsets.dense()
		if err != nil {
			return fmt.Errorf("commit chain %s: %w", e.name(), err)
		}
		sl, err := po.Slots.unpack(base, carry)
		if err != nil {
			return fmt.Errorf("commit chain %s: %w", e.name(), err)
		}
		n := *e
		n.Gen, n.Pin, n.Offsets, n.Slots = po.Gen, po.Pin, off, sl
		if err := checkEntry(&n); err != nil {
			return fmt.Errorf("commit chain %s: %w", e.name(), err)
		}
		if n.Gen == 0 || n.Gen >= sc.NextGen {
			return fmt.Errorf("commit chain %s: generation %d out of range (next is %d)", e.name(), n.Gen, sc.NextGen)
		}
		*e = n
	}
	byName := map[string]*entry{}
	for _, e := range sc.Chains {
		byName[e.Chain.Name] = e
	}
	for _, e := range pp.Add {
		byName[e.Chain.Name] = e
	}
	if pp.Iptables != nil {
		sc.Iptables = pp.Iptables
	}
	for _, n := range pp.Remove {
		delete(byName, n)
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	sc.Chains = sc.Chains[:0]
	for _, n := range names {
		sc.Chains = append(sc.Chains, byName[n])
	}
	sc.Pending = nil
	return nil
}

// deltaCarry is the carry map of a delta applied to base (identity for a
// set delta); base is a chain the delta applies to.
func deltaCarry(base *ir.Chain, d *chainDelta) []int {
	if len(d.Rules) == 0 {
		return identity(len(base.Rules))
	}
	_, carry, err := applyRuleEdits(base.Rules, d.Rules)
	if err != nil {
		return nil
	}
	return carry
}
