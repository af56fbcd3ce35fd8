package daemon

import (
	"errors"
	"fmt"
	"strings"

	"github.com/bpfilter-go/bpfilter/daemon/proto"
	"github.com/bpfilter-go/bpfilter/frontends/cli"
	"github.com/bpfilter-go/bpfilter/ir"
)

// Per-rule updates (chain.update-rules): the request carries only the
// edits. The next chain is built from the stored one (rules not edited are
// shared, not copied), only the new rules are validated, and the counter
// carry map follows from the edits (no whole-chain comparison). Then the
// usual paths run: in place when at most maxInPlaceRules rules change and
// the program allows it, else an atomic Replace.

// ruleEdit is an edit with its rules resolved to IR (what the journal
// records: journal.go).
type ruleEdit struct {
	Op    string     `json:"op"`
	Index int        `json:"index"`
	Count int        `json:"count,omitempty"`
	Rules []*ir.Rule `json:"rules,omitempty"`
}

// applyRuleEdits applies edits to rules; carry maps each rule of the
// result to its index in rules (-1: inserted or replaced). rules is not
// modified. A bad index is EINVAL naming the edit.
func applyRuleEdits(rules []*ir.Rule, edits []ruleEdit) ([]*ir.Rule, []int, error) {
	out := append([]*ir.Rule(nil), rules...)
	carry := identity(len(rules))
	for i, e := range edits {
		n := len(out)
		switch e.Op {
		case proto.EditInsert:
			if e.Index < 0 || e.Index > n {
				return nil, nil, errorf(proto.EINVAL, "edit %d (insert): index %d out of range (the chain has %d rules at that point)", i, e.Index, n)
			}
			ins := make([]int, len(e.Rules))
			for k := range ins {
				ins[k] = -1
			}
			out = append(out[:e.Index], append(append([]*ir.Rule(nil), e.Rules...), out[e.Index:]...)...)
			carry = append(carry[:e.Index], append(ins, carry[e.Index:]...)...)
		case proto.EditDelete:
			cnt := max(e.Count, 1)
			if e.Index < 0 || cnt > n || e.Index > n-cnt {
				return nil, nil, errorf(proto.EINVAL, "edit %d (delete): %d rules from index %d out of range (the chain has %d rules at that point)", i, cnt, e.Index, n)
			}
			out = append(out[:e.Index], out[e.Index+cnt:]...)
			carry = append(carry[:e.Index], carry[e.Index+cnt:]...)
		case proto.EditReplace:
			if e.Index < 0 || len(e.Rules) == 0 || len(e.Rules) > n || e.Index > n-len(e.Rules) {
				return nil, nil, errorf(proto.EINVAL, "edit %d (replace): %d rules from index %d out of range (the chain has %d rules at that point)", i, len(e.Rules), e.Index, n)
			}
			for k, r := range e.Rules {
				out[e.Index+k] = r
				carry[e.Index+k] = -1
			}
		default:
			return nil, nil, errorf(proto.EINVAL, "edit %d: unknown op %q", i, e.Op)
		}
	}
	return out, carry, nil
}

// nextChain returns base with rules replaced (sets, hook and options
// shared with base: callers must not modify them).
func nextChain(base *ir.Chain, rules []*ir.Rule) *ir.Chain {
	c := *base
	c.Rules = rules
	return &c
}

// checkNewRules validates the edits' rules against base (its hook and
// sets), without walking base's other rules.
func checkNewRules(base *ir.Chain, edits []ruleEdit) error {
	probe := &ir.Chain{Name: base.Name, Hook: base.Hook, Policy: base.Policy, Sets: base.Sets}
	for i, e := range edits {
		probe.Rules = e.Rules
		if err := probe.Validate(); err != nil {
			return errorf(proto.EINVAL, "edit %d (%s): %w", i, e.Op, err)
		}
		for k, r := range e.Rules {
			if r.Verdict.Kind == ir.Jump || r.Verdict.Kind == ir.Goto {
				return errorf(proto.EOPNOTSUPP, "edit %d (%s), rule %d: %s to user chains is not supported by the daemon", i, e.Op, k, r.Verdict.Kind)
			}
		}
	}
	return nil
}

// resolveEdits turns the request's edits into IR edits, parsing text
// against base.
func resolveEdits(front string, base *ir.Chain, edits []proto.RuleEdit, peer Peer) ([]ruleEdit, error) {
	if len(edits) == 0 {
		return nil, errorf(proto.EINVAL, "chain.update-rules needs at least one edit")
	}
	out := make([]ruleEdit, len(edits))
	for i, e := range edits {
		out[i] = ruleEdit{Op: e.Op, Index: e.Index, Count: e.Count, Rules: e.Rules}
		if e.Text == "" {
			continue
		}
		if front != proto.FrontCLI {
			return nil, errorf(proto.EINVAL, "edit %d: rule text is bfcli text: only the cli front may send it", i)
		}
		rs, err := parseRuleText(base, i, e.Text, peer)
		if err != nil {
			return nil, err
		}
		out[i].Rules = rs
	}
	return out, nil
}

// parseRuleText parses bfcli rule statements as rules of base: the text
// is parsed after a one-line header declaring base's hook and named sets
// (without elements). Error positions are those of the text.
func parseRuleText(base *ir.Chain, edit int, text string, peer Peer) ([]*ir.Rule, error) {
	hdr := &ir.Chain{Name: base.Name, Hook: base.Hook, Policy: base.Policy}
	for _, st := range base.Sets {
		if st.Anonymous {
			continue
		}
		x := *st
		x.Elems = nil
		hdr.Sets = append(hdr.Sets, &x)
	}
	head := strings.ReplaceAll(strings.TrimSpace(cli.FormatChain(hdr)), "\n", " ")
	env := ir.ParseEnv{}
	if peer != nil {
		env.ResolveIface = func(n string) (uint32, error) { return peer.LookupIface(n, 0) }
	}
	name := fmt.Sprintf("<edit %d>", edit)
	rs, err := cli.Parse(name, []byte(head+"\n"+text), env)
	if err != nil {
		var el cli.ErrorList
		if errors.As(err, &el) {
			for _, e := range el {
				if e.Pos.Line > 1 {
					e.Pos.Line--
				}
			}
		}
		return nil, errorf(proto.EINVAL, "%w", err)
	}
	if len(rs.Chains) != 1 {
		return nil, errorf(proto.EINVAL, "edit %d: the text must hold rule statements only, not chains", edit)
	}
	c := rs.Chains[0]
	if len(c.Sets) != len(hdr.Sets) {
		return nil, errorf(proto.EOPNOTSUPP, "edit %d: rule edits cannot declare sets or use anonymous sets (use chain update, or a named set of the chain)", edit)
	}
	if len(c.Rules) == 0 {
		return nil, errorf(proto.EINVAL, "edit %d: the text holds no rule", edit)
	}
	for _, r := range c.Rules {
		// Positions in the text, not after the header.
		if r.Origin.Line > 1 {
			r.Origin.Line--
		}
	}
	return c.Rules, nil
}

// ChainUpdateRules applies rule edits to an existing chain, keeping its
// attachment and the counters of the rules not edited (an inserted or
// replaced rule starts at zero). expect >= 0 is the rule count the client
// expects the chain to have: another count is EAGAIN and nothing changes.
func (s *State) ChainUpdateRules(front, name string, edits []proto.RuleEdit, expect int, peer Peer, dryRun bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, err := s.ownEntry(front, name)
	if err != nil {
		return err
	}
	if len(old.Users) > 0 {
		return errorf(proto.EOPNOTSUPP, "chain %s runs user chains: edit it through its front", name)
	}
	if expect >= 0 && expect != len(old.Chain.Rules) {
		return errorf(proto.EAGAIN, "chain %s has %d rules, the request expects %d: it changed since it was read; read it again and retry", name, len(old.Chain.Rules), expect)
	}
	es, err := resolveEdits(front, old.Chain, edits, peer)
	if err != nil {
		return err
	}
	if err := checkNewRules(old.Chain, es); err != nil {
		return err
	}
	rules, carry, err := applyRuleEdits(old.Chain.Rules, es)
	if err != nil {
		return err
	}
	n := successorShared(old, nextChain(old.Chain, rules))
	n.carry, n.carryPolicy, n.carryErrors = carry, true, true
	n.delta = &chainDelta{Rules: es, BaseRules: len(old.Chain.Rules), base: old.Chain}
	if dryRun {
		return nil
	}
	if changedRules(old.Chain, carry) <= maxInPlaceRules {
		if done, err := s.updateInPlace(front, old, n, peer); done {
			return err
		}
	}
	return s.apply(&plan{front: front, add: []*entry{n}, via: peer})
}

// successorShared is successor for a chain built from e's (c shares e's
// hook options, sets and unedited rules; already validated).
func successorShared(e *entry, c *ir.Chain) *entry {
	return &entry{
		Front: e.Front, Chain: c, Attached: e.Attached, Keys: append([]string(nil), e.Keys...),
		NetnsID: e.NetnsID, AttachPath: e.AttachPath,
	}
}
