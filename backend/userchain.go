package backend

import (
	"errors"
	"fmt"

	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/cilium/ebpf/asm"
)

// User chains (iptables -j/-g/RETURN) are inlined at every call site: a
// JUMP rule's body is the callee's rules, whose RETURN (and end) goes on
// after the JUMP rule; a GOTO's callee returns where the calling chain
// would. Every rule of a user chain has one counter slot shared by all its
// call sites, after the base chain's slots (Program.UserSlots).

// MaxUserChainDepth bounds JUMP/GOTO nesting, as ir.Eval and xtables do.
const MaxUserChainDepth = 32

// maxInlinedRules bounds the rules emitted after inlining, so that a table
// calling large chains from many places is refused instead of exceeding
// the verifier's limits.
const maxInlinedRules = 30000

// userChains is the inlining state of a compilation.
type userChains struct {
	rs *ir.Ruleset
	// base is the first slot of each user chain, by name.
	base  map[string]uint32
	next  uint32
	plans map[string]*plan
	// emitted counts the rules emitted so far.
	emitted int
}

// CompileInRuleset compiles base chain c of ruleset rs, inlining the user
// chains its rules JUMP or GOTO to. Program.UserSlots gives the counter
// slot of the first rule of each user chain reached.
func CompileInRuleset(rs *ir.Ruleset, c *ir.Chain, opts Options) (*Program, error) {
	if rs == nil {
		return nil, errors.New("compile: nil ruleset")
	}
	return compile(c, opts, rs)
}

// hasUserVerdicts reports whether a chain JUMPs, GOTOs or RETURNs.
func hasUserVerdicts(c *ir.Chain) bool {
	for _, r := range c.Rules {
		if r == nil {
			continue
		}
		switch r.Verdict.Kind {
		case ir.Jump, ir.Goto, ir.Return:
			return true
		}
	}
	return false
}

// newUserChains checks every user chain reachable from c and assigns
// counter slots from first.
func newUserChains(rs *ir.Ruleset, c *ir.Chain, first uint32) (*userChains, error) {
	uc := &userChains{rs: rs, base: map[string]uint32{}, next: first, plans: map[string]*plan{}}
	if err := uc.visit(c, 0); err != nil {
		return nil, err
	}
	return uc, nil
}

func (uc *userChains) visit(c *ir.Chain, depth int) error {
	for i, r := range c.Rules {
		if r == nil {
			return fmt.Errorf("chain %s: rule %d is nil", c.Name, i)
		}
		k := r.Verdict.Kind
		if k != ir.Jump && k != ir.Goto {
			continue
		}
		t := uc.rs.Chain(r.Verdict.Chain)
		switch {
		case t == nil:
			return fmt.Errorf("chain %s, rule %d: %s to unknown chain %q", c.Name, i, k, r.Verdict.Chain)
		case !t.User:
			return fmt.Errorf("chain %s, rule %d: %s target %q is not a user chain", c.Name, i, k, t.Name)
		case t.Hook.Flavour() != c.Hook.Flavour():
			return fmt.Errorf("chain %s, rule %d: user chain %s is for %s, not %s", c.Name, i, t.Name, t.Hook.Flavour(), c.Hook.Flavour())
		case depth+1 > MaxUserChainDepth:
			return fmt.Errorf("chain %s, rule %d: user chains nested deeper than %d", c.Name, i, MaxUserChainDepth)
		}
		if _, ok := uc.plans[t.Name]; !ok {
			if err := t.Validate(); err != nil {
				return fmt.Errorf("user chain %s: %w", t.Name, err)
			}
			if len(t.Sets) > 0 {
				return fmt.Errorf("user chain %s: sets in user chains are not supported", t.Name)
			}
			p, err := makePlan(t)
			if err != nil {
				return fmt.Errorf("user chain %s: %w", t.Name, err)
			}
			for j, tr := range t.Rules {
				if tr.Log != nil && tr.Log.Every > 0 {
					return fmt.Errorf("user chain %s, rule %d: log with a rate in a user chain is not supported", t.Name, j)
				}
			}
			uc.plans[t.Name] = p
			uc.base[t.Name] = uc.next
			uc.next += uint32(len(t.Rules))
		}
		if err := uc.visit(t, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// frame is one inlined chain: where its RETURN goes and how its rules are
// counted.
type frame struct {
	chain *ir.Chain
	ret   string
	slot  func(i int) int
	depth int
}

// emitInlined emits the base chain's rules with user chains inlined; the
// base chain's RETURN and end go to the policy.
func (g *gen) emitInlined(p *plan) error {
	f := frame{chain: g.chain, ret: "policy", slot: func(i int) int { return int(g.opt.CounterSlot(i)) }}
	return g.emitFrame(p, f)
}

func (g *gen) emitFrame(p *plan, f frame) error {
	b := g.b
	for i := range p.rules {
		rp := &p.rules[i]
		r := rp.rule
		g.uc.emitted++
		if g.uc.emitted > maxInlinedRules {
			return fmt.Errorf("more than %d rules after inlining user chains", maxInlinedRules)
		}
		slot := f.slot(i)
		next := b.fresh(fmt.Sprintf("d%d_rule_%d_next", f.depth, i))
		b.comment("chain %s rule %d: %s", f.chain.Name, i, ruleSummary(f.chain, r))
		call := r.Verdict.Kind == ir.Jump || r.Verdict.Kind == ir.Goto
		miss := next
		if call {
			// The callee's body sits between the matches and next: a
			// mismatch reaches next with a long jump.
			miss = b.fresh("call_skip")
		}
		if !rp.guard.empty() {
			g.emitGuard(rp.guard, miss)
		}
		if err := g.emitMatches(rp, miss); err != nil {
			return fmt.Errorf("chain %s, rule %d: %w", f.chain.Name, i, err)
		}
		if err := g.emitLimitParts(rp, slot, miss); err != nil {
			return fmt.Errorf("chain %s, rule %d: %w", f.chain.Name, i, err)
		}
		if call {
			body := b.fresh("call_body")
			b.emit(asm.Ja.Label(body))
			b.label(miss)
			b.emit(asm.LongJump(next))
			b.label(body)
		}
		if r.Log != nil {
			if err := checkLog(r.Log); err != nil {
				return fmt.Errorf("chain %s, rule %d: %w", f.chain.Name, i, err)
			}
			if err := g.emitLog(slot, r); err != nil {
				return fmt.Errorf("chain %s, rule %d: %w", f.chain.Name, i, err)
			}
		}
		if r.Mark != nil {
			return fmt.Errorf("chain %s, rule %d: mark with user chains is not supported", f.chain.Name, i)
		}
		switch k := r.Verdict.Kind; k {
		case ir.Continue:
			g.emitCount(slot)
		case ir.Return:
			g.emitCount(slot)
			b.emit(asm.LongJump(f.ret))
		case ir.Jump, ir.Goto:
			g.emitCount(slot)
			t := g.uc.rs.Chain(r.Verdict.Chain)
			base := g.uc.base[t.Name]
			cf := frame{chain: t, ret: next, depth: f.depth + 1, slot: func(j int) int { return int(base) + j }}
			if k == ir.Goto {
				cf.ret = f.ret
			}
			if err := g.emitFrame(g.uc.plans[t.Name], cf); err != nil {
				return err
			}
		default:
			if err := g.emitVerdict(r.Verdict, slot); err != nil {
				return fmt.Errorf("chain %s, rule %d: %w", f.chain.Name, i, err)
			}
		}
		b.label(next)
	}
	if f.depth > 0 {
		b.comment("end of user chain %s", f.chain.Name)
		b.emit(asm.LongJump(f.ret))
	}
	return nil
}

// emitMatches emits a rule's compares, jumping to miss on a mismatch (the
// same code as emitRule's).
func (g *gen) emitMatches(rp *rulePlan, miss string) error {
	var combined, other []*ir.Match
	for _, m := range rp.matches {
		if combinable(m) {
			combined = append(combined, m)
		} else {
			other = append(other, m)
		}
	}
	if len(combined) < 2 || hotDrops(rp.matches) { // hotDrops: pktmatch.go
		other, combined = rp.matches, nil
	}
	g.xtRule = rp.xt // xtl4.go
	if len(combined) > 0 {
		if err := g.emitCombined(combined, miss); err != nil {
			return err
		}
	}
	for _, m := range other {
		if err := g.emitMatch(m, miss); err != nil {
			return err
		}
	}
	return nil
}
