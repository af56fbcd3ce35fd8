package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/bpfilter-go/bpfilter/daemon/proto"
	"github.com/bpfilter-go/bpfilter/engine"
	"github.com/bpfilter-go/bpfilter/ir"
)

// The fake kernel's model of in-place updates (enabled by
// fakeKernel.inPlace): a program becomes the new chain, counters of
// unchanged rules stay, and an update that changes the number of rules
// marks the program as the engine marks its pins (Restore then refuses
// with engine.ErrUpdated). The mark is set first, so a death in the middle
// of the writes (fakeKernel.midUpdate) leaves a marked program still
// running the old rules.

type fakeInPlace struct {
	p    *fakeProg
	next *ir.Chain
}

func (p *fakeProg) PrepareUpdate(next *ir.Chain) (inPlace, string, error) {
	if !p.k.inPlace {
		return nil, "in-place updates disabled in this fake kernel", nil
	}
	if p.spent || p.closed {
		return nil, "", errors.New("update: bad state")
	}
	if next.Hook != p.chain.Hook {
		return nil, "hook changed", nil
	}
	return &fakeInPlace{p: p, next: next.Clone()}, "", nil
}

func (u *fakeInPlace) Apply() error {
	p, k := u.p, u.p.k
	k.mu.Lock()
	if err := k.failUpdate; err != nil {
		k.mu.Unlock()
		return err
	}
	if len(u.next.Rules) != len(p.chain.Rules) {
		p.marked = true
	}
	k.updates++
	k.mu.Unlock()
	if k.midUpdate != nil {
		k.midUpdate()
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	// Unchanged rules keep their counter and slot; new rules take the
	// lowest free slots.
	prev := p.slotList()
	rules := make([]proto.Counter, len(u.next.Rules))
	slots := make([]uint32, len(u.next.Rules))
	used := map[uint32]bool{}
	match := matchRules(p.chain, u.next)
	for j, i := range match {
		if i >= 0 {
			rules[j], slots[j] = p.counters.Rules[i], prev[i]
			used[prev[i]] = true
		}
	}
	next := uint32(0)
	for j, i := range match {
		if i < 0 {
			for used[next] {
				next++
			}
			slots[j], used[next] = next, true
		}
	}
	p.counters.Rules, p.slots = rules, slots
	p.chain = u.next
	return nil
}

// Fixed policy and error slots of the fake.
const fakePolicySlot, fakeErrorSlot = 1 << 20, 1<<20 + 1

// slotList returns the slot of each rule (identity until an update).
func (p *fakeProg) slotList() []uint32 {
	if p.slots != nil {
		return p.slots
	}
	s := make([]uint32, len(p.chain.Rules))
	for i := range s {
		s[i] = uint32(i)
	}
	return s
}

// Slots returns the program's counter slots.
func (p *fakeProg) Slots() engine.Slots {
	p.k.mu.Lock()
	defer p.k.mu.Unlock()
	return engine.Slots{Rules: append([]uint32(nil), p.slotList()...), Policy: fakePolicySlot, Errors: fakeErrorSlot}
}

// Reload replaces the marked program pinned in dir by a fresh one running
// c, in the same link.
func (k *fakeKernel) Reload(dir string, slots engine.Slots, c *ir.Chain) (Program, proto.Counters, error) {
	id, err := readID(filepath.Join(dir, "prog"))
	if err != nil {
		return nil, proto.Counters{}, fmt.Errorf("reload: %w", err)
	}
	k.mu.Lock()
	old := k.progs[id]
	k.mu.Unlock()
	if old == nil {
		return nil, proto.Counters{}, fmt.Errorf("reload: program %d is gone", id)
	}
	k.mu.Lock()
	bySlot := map[uint32]proto.Counter{fakePolicySlot: old.counters.Policy, fakeErrorSlot: old.counters.Errors}
	for j, sl := range old.slotList() {
		bySlot[sl] = old.counters.Rules[j]
	}
	k.mu.Unlock()
	kc := proto.Counters{Rules: make([]proto.Counter, len(slots.Rules)), Policy: bySlot[slots.Policy], Errors: bySlot[slots.Errors]}
	for i, sl := range slots.Rules {
		kc.Rules[i] = bySlot[sl]
	}
	np, err := k.Load(c)
	if err != nil {
		return nil, proto.Counters{}, err
	}
	n := np.(*fakeProg)
	k.mu.Lock()
	if lid, err := readID(filepath.Join(dir, "link")); err == nil {
		if l := k.links[lid]; l != nil {
			l.prog, n.link = n, l
		}
	}
	old.closed = true
	delete(k.progs, old.id)
	k.mu.Unlock()
	if err := os.WriteFile(filepath.Join(dir, "prog"), []byte(strconv.Itoa(n.id)), 0o600); err != nil {
		return nil, proto.Counters{}, err
	}
	n.pinDir = dir
	return n, kc, nil
}
