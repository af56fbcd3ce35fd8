package daemon

import (
	"fmt"
	"time"

	"github.com/bpfilter-go/bpfilter/engine"
)

// Saving the context (standard mode): snapshot writes every chain (at
// start, on a clean stop, when the journal outgrows the snapshot, and for
// changes that are not plans or commits); savePlan and saveCommit append
// one journal record each (journal.go). A plan chain built by a per-rule
// or set-element update is recorded as its delta, not its whole IR.

// snapshot writes the whole context with an optional pending plan as a
// new snapshot, and starts a new journal after it.
func (s *State) snapshot(pending *plan) error {
	if !s.persistent() {
		return nil
	}
	// Epochs grow: above any this daemon wrote or found on disk, so a
	// journal left by an interrupted compaction never matches a newer
	// snapshot, even if the clock went back.
	epoch := max(uint64(time.Now().UnixNano()), s.epochFloor+1)
	if s.jr != nil {
		epoch = max(epoch, s.jr.epoch+1)
	}
	s.epochFloor = epoch
	s.jr.close()
	s.jr = nil
	b, err := s.encodeContext(pending, epoch)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(s.ctxFile, b); err != nil {
		return err
	}
	s.crash("compact-snapshot")
	j, err := createJournal(journalPath(s.ctxFile), epoch, int64(len(b)))
	if err != nil {
		// The snapshot is complete and newer than the journal left on
		// disk (which restore then ignores); the next save retries.
		return err
	}
	j.setPending(pending)
	s.jr = j
	return nil
}

// noSlots marks a patched plan chain whose base has no recorded slots.
var noSlots = &engine.Slots{}

// setPending notes the plan written ahead (nil: none).
func (j *journal) setPending(p *plan) {
	j.pending, j.chains, j.bases = p, nil, nil
	if p == nil {
		return
	}
	for _, e := range p.add {
		j.chains = append(j.chains, e.Chain)
	}
}

// appendRecord appends r, numbered; on failure the journal is dropped
// (the next save writes a snapshot).
func (s *State) appendRecord(r *journalRecord, kind string, sync bool) error {
	r.Seq = s.jr.seq + 1
	b, err := encodeRecord(r)
	if err != nil {
		return err
	}
	var crash func(string)
	if s.crashHook != nil {
		crash = s.crash
	}
	if err := s.jr.append(b, kind, sync, crash); err != nil {
		s.jr.close()
		s.jr = nil
		return err
	}
	s.jr.seq = r.Seq
	return nil
}

// savePlan writes p ahead. in, for an in-place update, is the committed
// entry the update writes into (its counter slots were just recorded:
// written unless they equal prev, the slots it had).
func (s *State) savePlan(p *plan, in *entry, prev *engine.Slots) error {
	if !s.persistent() {
		return nil
	}
	if s.jr == nil || s.jr.tooBig() {
		return s.snapshot(p)
	}
	pr := &planRecord{Front: p.front, NextGen: s.nextGen, Remove: p.remove, Iptables: p.ipt}
	if in != nil && !sameSlots(in.Slots, prev) {
		pr.InPlace = &inPlaceSlots{Name: in.name(), Slots: packSlots(in.Slots)}
	}
	var bases []*engine.Slots
	for _, e := range p.add {
		je := s.journalEntryOf(e)
		pr.Add = append(pr.Add, je)
		var base *engine.Slots
		if je.Patch != nil {
			base = s.chains[e.name()].Slots
			if base == nil {
				base = noSlots
			}
		}
		bases = append(bases, base)
	}
	if err := s.appendRecord(&journalRecord{Plan: pr}, "plan", true); err != nil {
		return err
	}
	s.crash("journal-plan")
	s.jr.setPending(p)
	s.jr.bases = bases
	return nil
}

// journalEntryOf is e as a plan record holds it: a patch of the committed
// chain of its name when e was built from it (e.delta), else whole.
func (s *State) journalEntryOf(e *entry) journalEntry {
	old := s.chains[e.name()]
	if d := e.delta; d != nil && old != nil && d.base == old.Chain && e.Front == old.Front && len(e.Users) == 0 && len(old.Users) == 0 {
		return journalEntry{Patch: &entryPatch{Name: e.name(), Delta: *d, Gen: e.Gen, Pin: e.Pin, Offsets: sparse(e.Offsets)}}
	}
	return journalEntry{Entry: e}
}

// saveCommit records that p's chains are installed (s.chains holds
// them). It writes a snapshot instead when p is not the plan the journal
// wrote ahead, when a plan chain changed since, or when the journal is due
// for compaction.
func (s *State) saveCommit(p *plan) error {
	for _, e := range p.add {
		// The delta holds the previous version: let it go.
		e.delta = nil
	}
	if !s.persistent() {
		return nil
	}
	j := s.jr
	if j == nil || j.pending != p || len(j.chains) != len(p.add) || j.tooBig() {
		return s.snapshot(nil)
	}
	cr := &commitRecord{}
	for i, e := range p.add {
		if j.chains[i] != e.Chain {
			return s.snapshot(nil)
		}
		var base *engine.Slots
		if i < len(j.bases) && j.bases[i] != noSlots {
			base = j.bases[i]
		}
		cr.Post = append(cr.Post, postOf(e, base))
	}
	// Not synced: a commit lost to a power cut leaves the plan pending,
	// and restore applies it again (the new version, as for a kill
	// before the commit). The next plan's fdatasync makes it durable.
	if err := s.appendRecord(&journalRecord{Commit: cr}, "commit", false); err != nil {
		return err
	}
	s.crash("journal-commit")
	s.jr.setPending(nil)
	return nil
}

// compactOnStop writes a snapshot at a clean stop, so the runtime dir
// holds the whole context in context.json.
func (s *State) compactOnStop() {
	if !s.persistent() || s.jr == nil || s.jr.seq == 0 {
		return
	}
	if err := s.snapshot(s.jr.pending); err != nil {
		s.log.Warn("compacting the context journal at stop", "err", fmt.Sprint(err))
	}
}
