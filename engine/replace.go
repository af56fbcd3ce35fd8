package engine

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/bpfilter-go/bpfilter/backend"
	"github.com/bpfilter-go/bpfilter/ir"
)

// Replace swaps the chain's program for next's, keeping the attachment:
// next is already loaded (and verified), so the swap is one link update,
// or make-before-break for netfilter. If the swap fails the old program
// keeps running unchanged, next is left as it was and the caller still
// owns it. On success c holds next's IR, program and maps, next is
// emptied, and the old program is unloaded.
//
// Hook options of next are ignored, as with "bfcli chain update": the
// attachment keeps the current ones, and so does c.IR.
//
// Counters of rules present in both chains (same matches, actions and
// verdict, in order of appearance), of the policy and of parse errors
// are copied to next before the swap, unless next was loaded with
// Options.FreshCounters; packets the old program counts during the swap
// itself are not carried over.
func (c *Chain) Replace(next *Chain) error {
	switch {
	case next == nil || next == c:
		return errors.New("engine: replace: next must be another chain")
	case c.prog == nil || next.prog == nil:
		return fmt.Errorf("engine: replace chain %s: a chain is closed", c.IR.Name)
	case next.att != nil || next.pinDir != "":
		return fmt.Errorf("engine: replace chain %s: the new chain must be loaded only, not attached or pinned", c.IR.Name)
	case next.IR.Hook != c.IR.Hook:
		return fmt.Errorf("engine: replace chain %s: hook %s cannot replace hook %s", c.IR.Name, next.IR.Hook, c.IR.Hook)
	}
	if !next.opts.FreshCounters {
		if err := carryCounters(c, next); err != nil {
			return fmt.Errorf("engine: replace chain %s: %w", c.IR.Name, err)
		}
	}
	if c.att != nil {
		if err := c.att.Update(next.prog); err != nil {
			return fmt.Errorf("engine: replace chain %s: %w", c.IR.Name, err)
		}
	}
	old := c.coll
	var errs []error
	if c.pinDir != "" {
		if err := unpinCollection(old); err != nil {
			errs = append(errs, err)
		}
		if err := pinCollection(next.coll, c.pinDir); err != nil {
			errs = append(errs, err)
		}
	}
	nextIR := next.IR
	if nextIR.HookOpts != c.IR.HookOpts {
		nextIR = nextIR.Clone()
		nextIR.HookOpts = c.IR.HookOpts
	}
	c.IR, c.Program, c.VerifierLog = nextIR, next.Program, next.VerifierLog
	// The user chains inlined in the new program are next's: counters
	// (Counters.User) are split by them.
	c.opts.Ruleset = next.opts.Ruleset
	c.coll, c.prog = next.coll, next.prog
	next.coll, next.prog = nil, nil
	old.Close()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("engine: replace chain %s: program replaced, but pinning failed: %w", c.IR.Name, err)
	}
	return nil
}

// ruleKey identifies a rule by what it does, not where it was written.
func ruleKey(r *ir.Rule) string {
	k := fmt.Sprintf("%#v|%#v|%v", r.Matches, r.Verdict, r.Counter)
	if r.Log != nil {
		k += fmt.Sprintf("|log%#v", *r.Log)
	}
	if r.Mark != nil {
		k += fmt.Sprintf("|mark%d", *r.Mark)
	}
	return k
}

// carryCounters copies the per-CPU counters of unchanged rules, the
// policy and the error slot from c to next.
func carryCounters(c, next *Chain) error {
	from, to := c.coll.Maps[backend.CountersMap], next.coll.Maps[backend.CountersMap]
	oldSlots := map[string][]int{}
	for i, r := range c.IR.Rules {
		k := ruleKey(r)
		oldSlots[k] = append(oldSlots[k], i)
	}
	type move struct{ from, to uint32 }
	var moves []move
	for i, r := range next.IR.Rules {
		k := ruleKey(r)
		if s := oldSlots[k]; len(s) > 0 {
			moves = append(moves, move{c.Program.RuleSlot(s[0]), next.Program.RuleSlot(i)})
			oldSlots[k] = s[1:]
		}
	}
	moves = append(moves,
		move{c.Program.PolicySlot(), next.Program.PolicySlot()},
		move{c.Program.ErrorSlot(), next.Program.ErrorSlot()})
	for _, mv := range moves {
		if err := copyCounter(from, to, mv.from, mv.to); err != nil {
			return fmt.Errorf("carry counters: %w", err)
		}
	}
	return nil
}

func copyCounter(from, to *ebpf.Map, src, dst uint32) error {
	var per []backend.Counter
	if err := from.Lookup(src, &per); err != nil {
		return fmt.Errorf("read counter %d: %w", src, err)
	}
	return writeCounter(to, dst, per)
}
