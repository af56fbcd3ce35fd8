package backend

import (
	"errors"
	"fmt"

	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/bpfilter-go/bpfilter/optimizer"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
)

// maxGuardBlockInsns bounds the instructions a guard jump skips (jump
// offsets are 16-bit; loads of 64-bit immediates take two slots).
const maxGuardBlockInsns = 12000

// gen is the state of one compilation.
type gen struct {
	b     *builder
	chain *ir.Chain
	hook  ir.Hook
	fl    ir.Flavour
	nf    *nfOffsets
	// opt is the optimiser's plan: segments, rule IDs (counter slots).
	opt *optimizer.Plan
	// lookupAt maps the first rule of each segment compiled as lookups to
	// the segment's index.
	lookupAt map[int]int
	// uc inlines user chains (nil: the chain has no JUMP/GOTO/RETURN).
	uc *userChains
	// chunks are the rule ranges of the chained programs (split.go);
	// chunk is the one being emitted.
	chunks []chunkRange
	chunk  int
	// verbose holds the messages of Options.VerboseBPF (nil: off).
	verbose *verboseMessages
	// addrTypeUsed: the program reads AddrTypeMap (addrtype.go).
	addrTypeUsed bool
	// hz is the kernel's HZ and limitsPerRule the buckets each counter
	// slot owns in bf_limit (0: no meta.limit; see limit.go).
	hz            uint32
	limitsPerRule int
	// tcpOpts: the chain has tcp.option matches testing tcpOptKinds
	// (pktmatch_tcpopt.go).
	tcpOpts     bool
	tcpOptKinds []uint8
	// xt.l4 (xtl4.go): xtl4 is set when a chain compiled into the program
	// carries constructs; slow marks the slow body, whose programs sit at
	// bf_chunks index chunkBase and on (slowIndex in the fast body);
	// xtRule is set while a rule carrying a construct is emitted.
	xtl4, slow, xtRule   bool
	chunkBase, slowIndex int
}

// Compile turns chain c into a BPF collection. It validates the chain and
// refuses what the backend does not support with an error naming the
// feature. The result depends only on c and opts.
func Compile(c *ir.Chain, opts Options) (*Program, error) { return compile(c, opts, nil) }

// compile is Compile with the ruleset user chains are looked up in (nil:
// JUMP, GOTO and RETURN are refused).
func compile(c *ir.Chain, opts Options, rs *ir.Ruleset) (*Program, error) {
	if c == nil {
		return nil, errors.New("compile: nil chain")
	}
	for i, r := range c.Rules {
		if r == nil {
			return nil, fmt.Errorf("compile chain %s: rule %d is nil", c.Name, i)
		}
	}
	for i, s := range c.Sets {
		if s == nil {
			return nil, fmt.Errorf("compile chain %s: set %d is nil", c.Name, i)
		}
	}
	if !c.Hook.Valid() {
		return nil, fmt.Errorf("compile chain %s: invalid hook %d", c.Name, c.Hook)
	}
	if c.User {
		return nil, fmt.Errorf("compile chain %s: user chains are not supported by the backend yet", c.Name)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("compile chain %s: %w", c.Name, err)
	}
	users := hasUserVerdicts(c)
	if users && rs == nil {
		return nil, fmt.Errorf("compile chain %s: JUMP, GOTO and RETURN need the ruleset (CompileInRuleset)", c.Name)
	}
	// The fast body emits the main chain's xt.l4 constructs in their fast
	// form (xtl4.go); the slow body compiles c itself.
	p, err := makePlan(ir.XTL4FastChain(c))
	if err != nil {
		return nil, fmt.Errorf("compile: %w", err)
	}
	// Set maps are updated at run time (SetValue): rules matching a set
	// stay linear so the set map remains the live source of its elements.
	popts := opts.Plan
	popts.LiveSets = true
	// Inline tables are compiled as maps too: never inline, so their
	// entries stay data for updates.
	popts.InlineMax = -1
	if users {
		// Inlined user chains are emitted rule by rule.
		popts.Linear = true
	}
	op, err := optimizer.Build(c, popts)
	if err != nil {
		return nil, fmt.Errorf("compile chain %s: %w", c.Name, err)
	}
	g := &gen{b: newBuilder(), chain: c, hook: c.Hook, fl: c.Hook.Flavour(), opt: op, lookupAt: chooseLookups(op, len(c.Sets))}
	g.verbose = newVerboseMessages(c.Name, opts)
	if g.tcpOptKinds, g.tcpOpts, err = tcpOptionKinds(c, rs); err != nil {
		return nil, fmt.Errorf("compile chain %s: %w", c.Name, err)
	}
	if users {
		if g.uc, err = newUserChains(rs, c, op.CounterEntries()); err != nil {
			return nil, fmt.Errorf("compile chain %s: %w", c.Name, err)
		}
	}
	if g.uc == nil {
		if g.chunks, err = splitChunks(op, g.lookupAt, len(c.Rules)); err != nil {
			return nil, fmt.Errorf("compile chain %s: %w", c.Name, err)
		}
	}
	g.xtl4 = needsSlowBody(c, g.uc)
	if g.xtl4 {
		g.slowIndex = max(1, len(g.chunks))
	}
	if err := g.setupLimits(opts); err != nil {
		return nil, fmt.Errorf("compile chain %s: %w", c.Name, err)
	}
	if g.fl == ir.FlavourNF {
		if g.nf, err = resolveNetfilter(opts.KernelBTF); err != nil {
			return nil, fmt.Errorf("compile chain %s: %w", c.Name, err)
		}
		g.nf.hz = opts.HZ
	}
	progType, attach, err := programType(c.Hook)
	if err != nil {
		return nil, fmt.Errorf("compile chain %s: %w", c.Name, err)
	}
	if err := g.emitProgram(p); err != nil {
		return nil, fmt.Errorf("compile chain %s: %w", c.Name, err)
	}
	insns, err := g.b.finish()
	if err != nil {
		return nil, fmt.Errorf("compile chain %s: %w", c.Name, err)
	}
	insns[0] = btf.WithFuncMetadata(insns[0], btfMain)
	spec, setMaps, err := collection(c, opts, progType, attach, insns)
	if err != nil {
		return nil, fmt.Errorf("compile chain %s: %w", c.Name, err)
	}
	spec.Maps[CountersMap] = countersMapSpec(int(op.IDCap))
	var userSlots map[string]uint32
	if g.uc != nil {
		spec.Maps[CountersMap].MaxEntries = g.uc.next
		userSlots = g.uc.base
	}
	g.addLimitMap(spec, spec.Maps[CountersMap].MaxEntries)
	if err := g.lookupMapSpecs(op, spec); err != nil {
		return nil, fmt.Errorf("compile chain %s: %w", c.Name, err)
	}
	more, err := g.addChunkPrograms(p, spec)
	if err != nil {
		return nil, fmt.Errorf("compile chain %s: %w", c.Name, err)
	}
	if g.xtl4 {
		slow, err := g.addSlowBody(c, opts, spec) // xtl4.go
		if err != nil {
			return nil, fmt.Errorf("compile chain %s: %w", c.Name, err)
		}
		more += slow
	}
	g.addVerboseMap(spec)
	g.addAddrTypeMap(spec)
	if opts.DumpBytecode != nil {
		if err := dump(opts.DumpBytecode, c, insns); err != nil {
			return nil, fmt.Errorf("compile chain %s: dump bytecode: %w", c.Name, err)
		}
	}
	return &Program{Spec: spec, NumRules: len(c.Rules), SetMaps: setMaps, Insns: len(insns) + more, Plan: op, UserSlots: userSlots}, nil
}

// emitProgram emits the prologue, the rules and the policy.
func (g *gen) emitProgram(p *plan) error {
	b := g.b
	b.comment("prologue: %s chain %s", g.hook, g.chain.Name)
	g.emitContext()
	g.emitZeroBuffers()
	if g.fl == ir.FlavourCgroupSockAddr {
		g.emitSockAddr()
	} else {
		b.emit(asm.Mov.Imm(regL4, 0))
		g.emitParse()
		g.emitTCPOptWalk() // pktmatch_tcpopt.go
		// xt.l4: state, dispatch to the slow body (xtl4.go).
		if err := g.emitXTL4Prologue(); err != nil {
			return err
		}
	}
	blockEnd, blockStart := "", 0
	if g.uc != nil {
		if err := g.emitInlined(p); err != nil {
			return err
		}
		p = &plan{chain: p.chain} // rules emitted
	}
	from, to := 0, len(p.rules)
	if len(g.chunks) > 1 {
		from, to = g.chunks[g.chunk].from, g.chunks[g.chunk].to
	}
	for i := from; i < to; i++ {
		if si, ok := g.lookupAt[i]; ok {
			if blockEnd != "" {
				b.label(blockEnd)
				blockEnd = ""
			}
			if err := g.emitLookupSegment(g.opt, si); err != nil {
				return err
			}
			i = g.opt.Segments[si].End - 1
			continue
		}
		gd := p.rules[i].guard
		// A guard's jump skips its whole block, and jump offsets are 16
		// bits: blocks are closed before they grow too long.
		if blockEnd == "" || !gd.equal(p.rules[i-1].guard) || len(b.insns)-blockStart > maxGuardBlockInsns {
			if blockEnd != "" {
				b.label(blockEnd)
			}
			blockEnd, blockStart = fmt.Sprintf("guard_%d_end", i), len(b.insns)
			if !gd.empty() {
				b.label(fmt.Sprintf("guard_%d", i))
				b.comment("guard of the rules from %d", i)
				g.emitGuard(gd, blockEnd)
			}
		}
		if err := g.emitRule(&p.rules[i]); err != nil {
			return err
		}
	}
	if blockEnd != "" {
		b.label(blockEnd)
	}
	if g.chunk+1 < len(g.chunks) {
		g.emitTailCall(g.chunkBase + g.chunk + 1)
	}
	b.label("policy")
	b.comment("policy: %s", g.chain.Policy)
	if err := g.emitVerdict(g.chain.Policy, int(g.opt.PolicySlot())); err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	g.emitFinish()
	g.emitCountFunc()
	g.emitLimitFunc() // meta.limit (limit.go)
	return nil
}

func ruleLabel(i int) string     { return fmt.Sprintf("rule_%d", i) }
func ruleNextLabel(i int) string { return fmt.Sprintf("rule_%d_next", i) }

// emitRule emits one rule: guards, matches, actions, verdict.
func (g *gen) emitRule(rp *rulePlan) error {
	b := g.b
	r, i := rp.rule, rp.index
	next := ruleNextLabel(i)
	b.label(ruleLabel(i))
	b.comment("rule %d: %s", i, ruleSummary(g.chain, r))
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
		if err := g.emitCombined(combined, next); err != nil {
			return fmt.Errorf("rule %d: %w", i, err)
		}
	}
	for _, m := range other {
		if err := g.emitMatch(m, next); err != nil {
			return fmt.Errorf("rule %d: %w", i, err)
		}
	}
	if err := g.emitLimitParts(rp, int(g.opt.CounterSlot(i)), next); err != nil {
		return fmt.Errorf("rule %d: %w", i, err)
	}
	if r.Verdict.Kind == ir.Continue {
		// Terminal verdicts count in the exit block.
		g.emitCount(int(g.opt.CounterSlot(i)))
	}
	if r.Log != nil {
		if err := checkLog(r.Log); err != nil {
			return fmt.Errorf("rule %d: %w", i, err)
		}
		if err := g.emitLog(i, r); err != nil {
			return fmt.Errorf("rule %d: %w", i, err)
		}
	}
	if r.Mark != nil {
		if g.fl != ir.FlavourTC && g.fl != ir.FlavourCgroupSkb {
			return fmt.Errorf("rule %d: mark is not supported by %s", i, g.hook)
		}
		g.emitSetMark(*r.Mark)
	}
	if r.Verdict.Kind != ir.Continue {
		if err := g.emitVerdict(r.Verdict, int(g.opt.CounterSlot(i))); err != nil {
			return fmt.Errorf("rule %d: %w", i, err)
		}
	}
	b.label(next)
	return nil
}

// collection assembles the CollectionSpec.
func collection(c *ir.Chain, opts Options, pt ebpf.ProgramType, at ebpf.AttachType, insns asm.Instructions) (*ebpf.CollectionSpec, map[string]string, error) {
	ring := opts.LogRingSize
	if ring == 0 {
		ring = DefaultLogRingSize
	}
	minEntries := opts.SetMinEntries
	if minEntries == 0 {
		minEntries = DefaultSetMinEntries
	}
	spec := &ebpf.CollectionSpec{
		Maps: map[string]*ebpf.MapSpec{
			CountersMap: countersMapSpec(len(c.Rules)),
			LogMap:      logMapSpec(ring),
		},
		Programs: map[string]*ebpf.ProgramSpec{
			ProgramName: {
				Name:         ProgramName,
				Type:         pt,
				AttachType:   at,
				License:      licenseGPL,
				Instructions: insns,
			},
		},
	}
	for _, r := range c.Rules {
		if r.Log != nil && r.Log.Every > 0 {
			spec.Maps[LogRateMap] = logRateMapSpec(len(c.Rules))
			break
		}
	}
	setMaps := make(map[string]string, len(c.Sets))
	for i, s := range c.Sets {
		ms, err := setMapSpec(i, s, minEntries)
		if err != nil {
			return nil, nil, err
		}
		spec.Maps[ms.Name] = ms
		setMaps[s.Name] = ms.Name
	}
	return spec, setMaps, nil
}
