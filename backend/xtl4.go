package backend

import (
	"fmt"

	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/bpfilter-go/bpfilter/optimizer"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
)

// xt.l4 constructs (ir/xtl4.go, docs/HOTDROP.md): the iptables xt matches'
// transport checks, with the kernel's hotdrop on truncated headers.
//
// A chain carrying them compiles to two bodies. The fast body is the chain
// as always (lookups planned from the constructs' fast form, ir.XTL4FastRule;
// the main chain's rules are emitted in that form, so typical rules compile
// exactly as before). Program 0's prologue computes ir.XTL4SlowPath and, for
// a flagged packet only, tail-calls the slow body through bf_chunks: the
// whole chain rule by rule (optimizer Options.Linear with Previous = the
// fast plan: same rule IDs, same counter slots), where each construct is
// exact and a reached hotdrop returns DROP without counting the rule. The
// slow body holds no lookup: it reads sets from their maps and every other
// value as immediates (see engine: chains with a slow body are replaced,
// never updated in place).

// The slow state word (u32) after the 20 bytes of the transport buffer
// (l4BufCap is 24): 0 when no construct can hold (no IP, unknown protocol
// or transport offset, a non-first fragment other than IPv4 offset 1);
// xtl4Frag1 for an IPv4 fragment at offset 1; else xtl4AtThoff with the
// number of transport bytes (capped at 0xffff) in the low 16 bits.
const (
	stackXTL4   = stackL4 + 20
	xtl4AtThoff = 1 << 20
	xtl4Frag1   = 1 << 21
)

// xtl4LenMask selects the transport length of the state word.
const xtl4LenMask = 0xffff

// emitXTL4MarkThoff records, at the parser's transport offset, that the
// offset is known (parse.go calls it at parse_l4).
func (g *gen) emitXTL4MarkThoff() {
	if !g.xtl4 {
		return
	}
	g.b.emit(asm.StoreImm(asm.R10, stackXTL4, xtl4AtThoff, asm.Word))
}

// emitXTL4State computes the state word after parsing.
func (g *gen) emitXTL4State() {
	b := g.b
	zero, done, notV4 := b.fresh("xtl4_zero"), b.fresh("xtl4_state_done"), b.fresh("xtl4_not_frag")
	capped := b.fresh("xtl4_capped")
	b.comment("xt.l4: transport state (ir.XTL4SlowPath inputs)")
	b.emit(
		asm.LoadMem(asm.R1, asm.R10, stackXTL4, asm.Word),
		asm.Mov.Reg(asm.R2, regL3),
		asm.And.Imm(asm.R2, l3Present),
		asm.JEq.Imm(asm.R2, 0, zero),
		asm.Mov.Reg(asm.R2, regL4),
		asm.And.Imm(asm.R2, l4Known),
		asm.JEq.Imm(asm.R2, 0, zero),
		asm.Mov.Reg(asm.R2, regL3),
		asm.And.Imm(asm.R2, 0xffff),
		asm.JNE.Imm(asm.R2, ir.EthPIP, notV4),
		asm.LoadMem(asm.R2, asm.R10, stackL3+6, asm.Half),
		asm.HostTo(asm.BE, asm.R2, asm.Half),
		asm.And.Imm(asm.R2, 0x1fff),
		asm.JEq.Imm(asm.R2, 0, notV4),
		asm.JNE.Imm(asm.R2, 1, zero),
		asm.StoreImm(asm.R10, stackXTL4, xtl4Frag1, asm.Word),
		asm.Ja.Label(done),
	)
	b.label(notV4)
	b.emit(
		asm.JEq.Imm(asm.R1, 0, zero),
		asm.LoadMem(asm.R2, asm.R10, stackOff, asm.DWord),
		asm.Mov.Reg(asm.R3, regLen),
		asm.Sub.Reg(asm.R3, asm.R2),
		asm.JLE.Imm(asm.R3, xtl4LenMask, capped),
		asm.Mov.Imm(asm.R3, xtl4LenMask),
	)
	b.label(capped)
	b.emit(
		asm.Or.Imm(asm.R3, xtl4AtThoff),
		asm.StoreMem(asm.R10, stackXTL4, asm.R3, asm.Word),
		asm.Ja.Label(done),
	)
	b.label(zero)
	b.emit(asm.StoreImm(asm.R10, stackXTL4, 0, asm.Word))
	b.label(done)
}

// emitXTL4Dispatch (fast program 0) tail-calls the slow body at index
// slow when the packet has ir.XTL4SlowPath.
func (g *gen) emitXTL4Dispatch(slow int) error {
	drop, err := g.verdictCode(ir.Drop)
	if err != nil {
		return err
	}
	b := g.b
	g.emitXTL4State()
	fast, flagged, notFrag := b.fresh("xtl4_fast"), b.fresh("xtl4_flagged"), b.fresh("xtl4_not_frag1")
	b.comment("xt.l4: flagged packets run the slow body")
	b.emit(
		asm.LoadMem(asm.R1, asm.R10, stackXTL4, asm.Word),
		asm.JEq.Imm(asm.R1, 0, fast),
		asm.Mov.Reg(asm.R2, regL4),
		asm.And.Imm(asm.R2, 0xff),
		asm.Mov.Reg(asm.R3, asm.R1),
		asm.And.Imm(asm.R3, xtl4Frag1),
		asm.JEq.Imm(asm.R3, 0, notFrag),
		asm.JEq.Imm(asm.R2, ir.ProtoTCP, flagged),
		asm.Ja.Label(fast),
	)
	b.label(notFrag)
	b.emit(
		asm.And.Imm(asm.R1, xtl4LenMask),
		asm.Mov.Reg(asm.R3, regL3),
		asm.And.Imm(asm.R3, 0xffff),
	)
	for _, k := range []ir.XTL4Kind{ir.XTL4TCP, ir.XTL4UDP, ir.XTL4ICMP, ir.XTL4ICMP6} {
		other := b.fresh("xtl4_other_proto")
		proto, l3 := xtl4ProtoL3(k)
		b.emit(asm.JNE.Imm(asm.R2, int32(proto), other))
		if l3 != 0 {
			b.emit(asm.JNE.Imm(asm.R3, int32(l3), fast))
		}
		b.emit(
			asm.JLT.Imm(asm.R1, int32(ir.XTL4NeedBytes(k)), flagged),
			asm.Ja.Label(fast),
		)
		b.label(other)
	}
	b.emit(asm.Ja.Label(fast))
	b.label(flagged)
	g.emitTailCall(slow)
	// The prog array always holds the slow body; should the tail call
	// fail all the same, drop rather than judge the packet by the fast
	// form.
	b.emit(asm.Mov.Imm(regL3, drop), asm.LongJump("return"))
	b.label(fast)
	return nil
}

// xtl4ProtoL3 is the protocol and EtherType a construct of kind k admits
// (0: any; multiport relies on the rule's protocol match).
func xtl4ProtoL3(k ir.XTL4Kind) (proto uint8, l3 uint16) {
	switch k {
	case ir.XTL4TCP:
		return ir.ProtoTCP, 0
	case ir.XTL4UDP:
		return ir.ProtoUDP, 0
	case ir.XTL4ICMP:
		return ir.ProtoICMP, ir.EthPIP
	case ir.XTL4ICMP6:
		return ir.ProtoICMPv6, ir.EthPIPv6
	}
	return 0, 0
}

// emitXTL4LoadPorts (slow body) copies the 4 port bytes into the transport
// buffer when a TCP or UDP header is shorter than the IR's but holds them:
// the port matches after a multiport construct read them (ir xtl4View).
func (g *gen) emitXTL4LoadPorts() {
	b := g.b
	skip, load := b.fresh("xtl4_ports_done"), b.fresh("xtl4_ports_load")
	b.emit(
		asm.LoadMem(asm.R1, asm.R10, stackXTL4, asm.Word),
		asm.Mov.Reg(asm.R2, asm.R1),
		asm.And.Imm(asm.R2, xtl4AtThoff),
		asm.JEq.Imm(asm.R2, 0, skip),
		asm.Mov.Reg(asm.R2, regL4),
		asm.And.Imm(asm.R2, l4Present),
		asm.JNE.Imm(asm.R2, 0, skip),
		asm.Mov.Reg(asm.R2, regL4),
		asm.And.Imm(asm.R2, 0xff),
		asm.JEq.Imm(asm.R2, ir.ProtoTCP, load),
		asm.JNE.Imm(asm.R2, ir.ProtoUDP, skip),
	)
	b.label(load)
	b.emit(
		asm.And.Imm(asm.R1, xtl4LenMask),
		asm.JLT.Imm(asm.R1, 4, skip),
		asm.LoadMem(asm.R2, asm.R10, stackOff, asm.DWord),
	)
	// The 4 bytes are there (length checked): a failed read cannot happen
	// and leaves the zeroed buffer.
	g.emitLoadBytes(stackL4, 4)
	b.label(skip)
}

// emitXTL4Match compiles a construct: exact in the slow body, its fast
// form (ir.XTL4FastHolds) elsewhere.
func (g *gen) emitXTL4Match(m *ir.Match, next string) error {
	k, ok := ir.XTL4KindOf(m)
	if !ok || m.Negate || m.Mask != nil {
		return fmt.Errorf("matcher %s: malformed match", m.Field)
	}
	if g.fl != ir.FlavourNF {
		return fmt.Errorf("matcher %s is not supported on %s", m.Field, g.hook)
	}
	b := g.b
	proto, l3 := xtl4ProtoL3(k)
	if !g.slow {
		if k == ir.XTL4Multiport {
			ok := b.fresh("xtl4_mp_ok")
			b.emit(
				asm.JEq.Imm(regL4, ir.ProtoTCP|l4Known|l4Present, ok),
				asm.JNE.Imm(regL4, ir.ProtoUDP|l4Known|l4Present, next),
			)
			b.label(ok)
			return nil
		}
		b.emit(asm.JNE.Imm(regL4, int32(proto)|l4Known|l4Present, next))
		if l3 != 0 {
			b.emit(asm.Mov.Reg(asm.R1, regL3), asm.And.Imm(asm.R1, 0xffff), asm.JNE.Imm(asm.R1, int32(l3), next))
		}
		return nil
	}
	drop, err := g.verdictCode(ir.Drop)
	if err != nil {
		return err
	}
	holds, notFrag, hot := b.fresh("xtl4_holds"), b.fresh("xtl4_not_frag1"), b.fresh("xtl4_hotdrop")
	b.emit(
		asm.LoadMem(asm.R1, asm.R10, stackXTL4, asm.Word),
		asm.JEq.Imm(asm.R1, 0, next),
	)
	if proto != 0 {
		b.emit(asm.Mov.Reg(asm.R2, regL4), asm.And.Imm(asm.R2, 0xff), asm.JNE.Imm(asm.R2, int32(proto), next))
	}
	if l3 != 0 {
		b.emit(asm.Mov.Reg(asm.R2, regL3), asm.And.Imm(asm.R2, 0xffff), asm.JNE.Imm(asm.R2, int32(l3), next))
	}
	b.emit(
		asm.Mov.Reg(asm.R2, asm.R1),
		asm.And.Imm(asm.R2, xtl4Frag1),
		asm.JEq.Imm(asm.R2, 0, notFrag),
	)
	if k == ir.XTL4TCP {
		b.emit(asm.Ja.Label(hot))
	} else {
		b.emit(asm.Ja.Label(next))
	}
	b.label(notFrag)
	b.emit(
		asm.And.Imm(asm.R1, xtl4LenMask),
		asm.JGE.Imm(asm.R1, int32(ir.XTL4NeedBytes(k)), holds),
	)
	b.label(hot)
	b.emit(
		// The xt match drops the packet on the spot (hotdrop): no counter.
		asm.Mov.Imm(regL3, drop),
		asm.LongJump("return"),
	)
	b.label(holds)
	return nil
}

// emitXTL4FieldGuard emits, in a rule carrying a construct, the protocol
// check of the transport fields m reads: their hoisted guard is left out
// of such rules (plan.go), as the construct before them decides about a
// truncated header; a multiport construct admits either protocol.
func (g *gen) emitXTL4FieldGuard(m *ir.Match, next string) {
	if !g.xtRule {
		return
	}
	var fs []ir.Field
	if m.Op == ir.OpIn {
		if s := g.chain.Set(m.Set); s != nil {
			fs = s.Key
		}
	} else {
		fs = []ir.Field{m.Field}
	}
	b := g.b
	for _, f := range fs {
		if !ir.TransportField(f) {
			continue
		}
		protos := f.Info().L4
		if f == ir.MetaFlowProbability {
			protos = []uint8{ir.ProtoTCP, ir.ProtoUDP}
		}
		ok := b.fresh("xtl4_field_proto")
		b.emit(asm.Mov.Reg(asm.R1, regL4), asm.And.Imm(asm.R1, 0xff|l4Known))
		for i, p := range protos {
			if i+1 < len(protos) {
				b.emit(asm.JEq.Imm(asm.R1, int32(p)|l4Known, ok))
			} else {
				b.emit(asm.JNE.Imm(asm.R1, int32(p)|l4Known, next))
			}
		}
		b.label(ok)
	}
}

// addSlowBody compiles the slow body (after the fast programs) into spec
// at bf_chunks index g.slowIndex and on, and returns its instruction count.
func (g *gen) addSlowBody(c *ir.Chain, opts Options, spec *ebpf.CollectionSpec) (int, error) {
	popts := opts.Plan
	popts.LiveSets, popts.InlineMax, popts.Linear, popts.Previous = true, -1, true, g.opt
	sp, err := optimizer.Build(c, popts)
	if err != nil {
		return 0, fmt.Errorf("slow body: %w", err)
	}
	if sp.IDCap != g.opt.IDCap {
		return 0, fmt.Errorf("slow body: %d counter slots, the fast body has %d", sp.IDCap, g.opt.IDCap)
	}
	for i := range c.Rules {
		if sp.CounterSlot(i) != g.opt.CounterSlot(i) {
			return 0, fmt.Errorf("slow body: rule %d counts in slot %d, the fast body in %d", i, sp.CounterSlot(i), g.opt.CounterSlot(i))
		}
	}
	p, err := makePlan(c)
	if err != nil {
		return 0, fmt.Errorf("slow body: %w", err)
	}
	sg := *g
	sg.slow, sg.opt, sg.lookupAt, sg.chunkBase, sg.chunk = true, sp, map[int]int{}, g.slowIndex, 0
	sg.chunks = nil
	if g.uc != nil {
		uc := *g.uc
		uc.emitted = 0
		sg.uc = &uc
	}
	var progs []asm.Instructions
	for per := slowChunkRules; ; {
		if g.uc == nil {
			if sg.chunks, err = splitSlowChunks(len(c.Rules), per); err != nil {
				return 0, fmt.Errorf("slow body: %w", err)
			}
		}
		var size int
		if progs, size, err = sg.emitSlowPrograms(p); err != nil {
			return 0, err
		}
		if size <= slowMaxBranches {
			break
		}
		// Too many branches for one program (see slowMaxBranches): cut
		// again with fewer rules per program, from the count just measured.
		used := len(c.Rules)
		if len(sg.chunks) > 0 {
			used = sg.chunks[0].to - sg.chunks[0].from
		}
		next := max(used*slowMaxBranches/size*9/10, minSlowChunkRules(len(c.Rules)))
		if g.uc != nil || next >= used {
			return 0, fmt.Errorf("slow body: a program of %d rules has %d conditional jumps, more than the %d one program may have: the chain's iptables tcp/udp/icmp/multiport matches need every rule as code in at most %d tail-called programs (%d rules are too many)", used, size, slowMaxBranches, maxChunks-1, len(c.Rules))
		}
		per = next
	}
	main := spec.Programs[ProgramName]
	arr := spec.Maps[ChunksMap]
	if arr == nil {
		arr = &ebpf.MapSpec{Name: ChunksMap, Type: ebpf.ProgramArray, KeySize: 4, ValueSize: 4}
		spec.Maps[ChunksMap] = arr
	}
	arr.MaxEntries = uint32(g.slowIndex + len(progs))
	total := 0
	for k, insns := range progs {
		name := chunkProgName(g.slowIndex + k)
		insns[0] = btf.WithFuncMetadata(insns[0], &btf.Func{Name: name, Linkage: btf.GlobalFunc, Type: btfMain.Type})
		ps := main.Copy()
		ps.Name, ps.Instructions = name, insns
		spec.Programs[name] = ps
		arr.Contents = append(arr.Contents, ebpf.MapKV{Key: uint32(g.slowIndex + k), Value: name})
		total += len(insns)
	}
	return total, nil
}

// emitSlowPrograms emits the slow body's programs (one per chunk, or one)
// and returns them with the most conditional jumps one of them has.
func (sg *gen) emitSlowPrograms(p *plan) ([]asm.Instructions, int, error) {
	n := max(1, len(sg.chunks))
	progs := make([]asm.Instructions, 0, n)
	longest := 0
	for k := 0; k < n; k++ {
		sg.b = newBuilder()
		sg.chunk = k
		if sg.uc != nil {
			sg.uc.emitted = 0
		}
		if err := sg.emitProgram(p); err != nil {
			return nil, 0, fmt.Errorf("slow body program %d: %w", k, err)
		}
		insns, err := sg.b.finish()
		if err != nil {
			return nil, 0, fmt.Errorf("slow body program %d: %w", k, err)
		}
		longest = max(longest, conditionalJumps(insns))
		progs = append(progs, insns)
	}
	return progs, longest, nil
}

// needsSlowBody reports whether c or a user chain inlined into it carries
// xt.l4 constructs.
func needsSlowBody(c *ir.Chain, uc *userChains) bool {
	if ir.ChainHasXTL4(c) {
		return true
	}
	if uc != nil {
		for _, p := range uc.plans {
			if ir.ChainHasXTL4(p.chain) {
				return true
			}
		}
	}
	return false
}

// emitXTL4Prologue emits, after parsing, the state and the dispatch to the
// slow body (fast program 0) or the state and the port bytes (slow body).
func (g *gen) emitXTL4Prologue() error {
	switch {
	case !g.xtl4 || g.fl != ir.FlavourNF:
		return nil
	case g.slow:
		g.emitXTL4State()
		g.emitXTL4LoadPorts()
		return nil
	case g.chunk == 0:
		return g.emitXTL4Dispatch(g.slowIndex)
	}
	return nil
}

// xtl4NoUpdate refuses the in-place (map-only) update of a chain with a
// slow body, before or after: the slow body holds the rules' values as
// immediates, so a map update would leave it stale. Such chains are
// replaced (engine Replace); the reason says why.
func xtl4NoUpdate(old *Program, next *ir.Chain) string {
	if (old.Plan != nil && old.Plan.HasSlowPath()) || ir.ChainHasXTL4(next) {
		return "the chain has xt.l4 constructs (iptables tcp, udp, icmp or multiport matches): their slow body holds the rules as code"
	}
	return ""
}

// slowChunkRules is the number of rules per slow body program to start
// from: rules carrying constructs compile to about twice the instructions
// of their fast form.
const slowChunkRules = 1024

// slowMaxBranches bounds a slow body program's conditional jumps. Its
// rules are not compiled branch-free (constructs can hotdrop), and every
// conditional branch whose two successors both go on leaves a pending
// verifier state: more than 8192 (BPF_COMPLEXITY_LIMIT_JMP_SEQ) and the
// load fails with EFAULT and no log (docs/BACKEND.md, "Linear chains").
// Counting every conditional jump over-estimates the pending states, so
// programs under this bound load (TestXTL4HeavyRules: 1024 rules of six
// matches are about 10,000 jumps and did not).
const slowMaxBranches = 7000

// conditionalJumps counts the conditional jumps of insns.
func conditionalJumps(insns asm.Instructions) int {
	n := 0
	for _, ins := range insns {
		switch op := ins.OpCode.JumpOp(); {
		case !ins.OpCode.Class().IsJump(), op == asm.Ja, op == asm.Call, op == asm.Exit:
		default:
			n++
		}
	}
	return n
}

// minSlowChunkRules is the fewest rules per slow body program that fit n
// rules in the maxChunks-1 programs the tail calls reach.
func minSlowChunkRules(n int) int {
	return max(1, (n+maxChunks-2)/(maxChunks-1))
}

// splitSlowChunks cuts n linear rules into slow body programs of at least
// per rules (more when the tail calls would not reach them all); the fast
// program's tail call to the first one leaves maxChunks-1 programs.
func splitSlowChunks(n, per int) ([]chunkRange, error) {
	per = max(per, minSlowChunkRules(n))
	var out []chunkRange
	for from := 0; from < n || from == 0; from += per {
		out = append(out, chunkRange{from, min(n, from+per)})
		if n == 0 {
			break
		}
	}
	if len(out) > maxChunks-1 {
		return nil, fmt.Errorf("%d slow body programs needed for %d rules, more than the %d tail calls allow", len(out), n, maxChunks-1)
	}
	return out, nil
}
