package backend

import (
	"fmt"
	"sync"
	"time"

	"github.com/bpfilter-go/bpfilter/internal/kconfig"
	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
)

// meta.limit (iptables -m limit) is a token bucket in the map bf_limit,
// following xt_limit (see ir/limit.go for the arithmetic).
//
// State: bf_limit is an array with one bucket per (counter slot, limit
// match of the rule): key slot*K + j, where K is the largest number of
// limit matches in one rule (gen.limitsPerRule). A user chain's rules
// have one counter slot for all call sites, so their buckets are shared
// like a netfilter rule's. The value is
//
//	struct { struct bpf_spin_lock lock; u32 credit; u64 prev; u32 ready; u32 pad; }
//
// and bf_limit_take, a global function every limit match calls, updates
// it under the spin lock, so concurrent packets on other CPUs see the
// bucket change atomically (the kernel uses xchg and cmpxchg on the same
// two words). A zero value (ready 0) is a full bucket:
// the first packet sets prev to the current time and the credit to the
// capacity, which is what xt_limit's checkentry does at load time (the
// credits earned between the load and the first packet are capped away
// either way).
//
// Time: bpf_jiffies64, the kernel's jiffies, the clock xt_limit reads, so
// refills happen on the same ticks. The credits per jiffy depend on the
// kernel's HZ, which Compile takes from Options.HZ (0: KernelHZ reads the
// running kernel's configuration).
//
// Replace loads new maps, so every bucket starts full again, as the kernel
// does when iptables replaces a table (checkentry allocates new state).
// A map-only Update keeps the program and bf_limit: the buckets of the
// unchanged linear rules keep their credit.

// LimitMap is the map of meta.limit buckets.
const LimitMap = "bf_limit"

// Offsets in a bf_limit value.
const (
	limitOffLock   = 0
	limitOffCredit = 4
	limitOffPrev   = 8
	limitOffReady  = 16
	limitValueSize = 24
)

// limitMapSpec returns bf_limit with n buckets; the value's BTF declares
// the spin lock, as the kernel requires.
func limitMapSpec(n uint32) *ebpf.MapSpec {
	u32 := &btf.Int{Name: "unsigned int", Size: 4}
	u64 := &btf.Int{Name: "long long unsigned int", Size: 8}
	lock := &btf.Struct{Name: "bpf_spin_lock", Size: 4, Members: []btf.Member{{Name: "val", Type: u32}}}
	value := &btf.Struct{Name: "bf_limit_bucket", Size: limitValueSize, Members: []btf.Member{
		{Name: "lock", Type: lock, Offset: limitOffLock * 8},
		{Name: "credit", Type: u32, Offset: limitOffCredit * 8},
		{Name: "prev", Type: u64, Offset: limitOffPrev * 8},
		{Name: "ready", Type: u32, Offset: limitOffReady * 8},
		{Name: "pad", Type: u32, Offset: (limitOffReady + 4) * 8},
	}}
	return &ebpf.MapSpec{Name: LimitMap, Type: ebpf.Array, KeySize: 4, ValueSize: limitValueSize,
		MaxEntries: max(n, 1), Key: u32, Value: value}
}

// limitCount returns the number of limit matches of r.
func limitCount(r *ir.Rule) int {
	n := 0
	for i := range r.Matches {
		if r.Matches[i].Field == ir.MetaLimit && r.Matches[i].Op != ir.OpIn {
			n++
		}
	}
	return n
}

// maxLimits returns the largest number of limit matches of one rule of c.
func maxLimits(c *ir.Chain) int {
	k := 0
	for _, r := range c.Rules {
		if r != nil {
			k = max(k, limitCount(r))
		}
	}
	return k
}

// limitPart is a limit match of a rule and the matches after it up to the
// next limit match, with their hoisted guard: they run only when the limit
// held, so that a packet takes a token exactly when it reaches the limit
// (ir.Eval evaluates matches in order).
type limitPart struct {
	limit   *ir.Match
	guard   guard
	matches []*ir.Match
}

// splitLimits moves the limit matches of rp, and every match after the
// first, into rp.limits; rp.matches and rp.guard keep what comes before.
func splitLimits(rp *rulePlan, c *ir.Chain) {
	h := c.Hook
	first := -1
	for j, m := range rp.matches {
		if m.Field == ir.MetaLimit && m.Op != ir.OpIn {
			first = j
			break
		}
	}
	if first < 0 {
		return
	}
	all := rp.matches
	rp.matches, rp.guard = all[:first], guard{}
	for _, m := range rp.matches {
		rp.guard.and(matchGuard(m, c, h))
	}
	for _, m := range all[first:] {
		if m.Field == ir.MetaLimit && m.Op != ir.OpIn {
			rp.limits = append(rp.limits, limitPart{limit: m})
			continue
		}
		lp := &rp.limits[len(rp.limits)-1]
		lp.matches = append(lp.matches, m)
		lp.guard.and(matchGuard(m, c, h))
	}
}

// matchGuard is what match m of chain c needs from the parser.
func matchGuard(m *ir.Match, c *ir.Chain, h ir.Hook) guard {
	if m.Op != ir.OpIn {
		return fieldGuard(m.Field, h)
	}
	var g guard
	if s := c.Set(m.Set); s != nil {
		for _, f := range s.Key {
			g.and(fieldGuard(f, h))
		}
	}
	return g
}

// emitLimitParts emits the limit matches of rp and the matches after them;
// slot is the rule's counter slot (its buckets are slot*K+j).
func (g *gen) emitLimitParts(rp *rulePlan, slot int, miss string) error {
	for j := range rp.limits {
		lp := &rp.limits[j]
		if err := g.emitLimit(lp.limit, slot*g.limitsPerRule+j, miss); err != nil {
			return err
		}
		if !lp.guard.empty() {
			g.emitGuard(lp.guard, miss)
		}
		if err := g.emitMatchList(lp.matches, miss); err != nil {
			return err
		}
	}
	return nil
}

// emitLimit takes a token from bucket key, jumping to miss unless the
// match (negation applied) holds. The bucket code is the global function
// bf_limit_take (emitLimitFunc), which the verifier checks once: inlined in
// every rule, its branches made verification several times slower than
// the rest of the rule.
func (g *gen) emitLimit(m *ir.Match, key int, miss string) error {
	l, err := ir.LimitOf(m)
	if err != nil {
		return err
	}
	if g.hz == 0 {
		return fmt.Errorf("matcher %s: the kernel's HZ is unknown", m.Field)
	}
	if err := ir.LimitCheck(l, g.hz); err != nil {
		return fmt.Errorf("matcher %s: %w", m.Field, err)
	}
	if g.limitsPerRule == 0 || key < 0 {
		return fmt.Errorf("matcher %s: no bucket for this rule", m.Field)
	}
	cost, capacity := ir.LimitCredits(l, g.hz)
	g.b.emit(
		asm.Mov.Imm32(asm.R1, int32(key)),
		asm.Mov.Imm32(asm.R2, int32(cost)),
		asm.Mov.Imm32(asm.R3, int32(capacity)),
		asm.Call.Label(limitFuncName),
	)
	if m.Negate {
		g.b.emit(asm.JNE.Imm(asm.R0, 0, miss))
	} else {
		g.b.emit(asm.JEq.Imm(asm.R0, 0, miss))
	}
	return nil
}

// limitFuncName is the global function that runs a packet through one
// bucket.
const limitFuncName = "bf_limit_take"

// btfLimit is bf_limit_take(u32 key, u32 cost, u32 cap) returning int.
var btfLimit = &btf.Func{Name: limitFuncName, Linkage: btf.GlobalFunc, Type: &btf.FuncProto{
	Return: btfInt, Params: []btf.FuncParam{{Name: "key", Type: btfU32}, {Name: "cost", Type: btfU32}, {Name: "cap", Type: btfU32}},
}}

// emitLimitFunc emits bf_limit_take(key, cost, cap) after the main program (the
// builder drops it when no rule calls it): 1 when the packet is within
// the limit of bucket key (and takes cost credits), 0 otherwise.
func (g *gen) emitLimitFunc() {
	if g.limitsPerRule == 0 {
		return
	}
	b := g.b
	const (
		rCost, rCap, rNow, rVal = asm.R6, asm.R7, asm.R8, asm.R9
	)
	b.label(limitFuncName)
	b.comment("bf_limit_take(key, cost, cap): xt_limit's token bucket, HZ %d", g.hz)
	b.emit(
		btf.WithFuncMetadata(asm.StoreMem(asm.R10, -4, asm.R1, asm.Word), btfLimit),
		asm.Mov.Reg32(rCost, asm.R2),
		asm.Mov.Reg32(rCap, asm.R3),
		asm.FnJiffies64.Call(),
		asm.Mov.Reg(rNow, asm.R0),
	)
	b.emit(mapLookup(LimitMap, -4)...)
	g.verboseCall("bpf_map_lookup_elem ("+LimitMap+")", failNull)
	b.emit(
		asm.JEq.Imm(asm.R0, 0, "bf_limit_none"),
		asm.Mov.Reg(rVal, asm.R0),
		asm.Mov.Reg(asm.R1, asm.R0),
		asm.FnSpinLock.Call(),
		// Under the lock: no calls but bpf_spin_unlock.
		asm.Mov.Reg(asm.R1, rVal),
		asm.LoadMem(asm.R3, asm.R1, limitOffReady, asm.Word),
		asm.JNE.Imm(asm.R3, 0, "bf_limit_ready"),
		// A fresh bucket is full as of now.
		asm.StoreMem(asm.R1, limitOffPrev, rNow, asm.DWord),
		asm.StoreMem(asm.R1, limitOffCredit, rCap, asm.Word),
		asm.StoreImm(asm.R1, limitOffReady, 1, asm.Word),
	)
	b.label("bf_limit_ready")
	b.emit(
		asm.LoadMem(asm.R3, asm.R1, limitOffPrev, asm.DWord),
		asm.LoadMem(asm.R4, asm.R1, limitOffCredit, asm.Word),
		asm.Mov.Imm(asm.R5, 0),
		asm.JLE.Reg(rNow, asm.R3, "bf_limit_noinc"),
		// credit increase = (u32)((now - prev) * CREDITS_PER_JIFFY)
		asm.Mov.Reg(asm.R5, rNow),
		asm.Sub.Reg(asm.R5, asm.R3),
		asm.Mul.Imm(asm.R5, int32(ir.CreditsPerJiffy(g.hz))),
		asm.Mov.Reg32(asm.R5, asm.R5),
		asm.StoreMem(asm.R1, limitOffPrev, rNow, asm.DWord),
	)
	b.label("bf_limit_noinc")
	b.emit(
		asm.Add.Reg32(asm.R4, asm.R5), // wraps in 32 bits, as the kernel's u32
		asm.JLE.Reg32(asm.R4, rCap, "bf_limit_capped"),
		asm.Mov.Reg32(asm.R4, rCap),
	)
	b.label("bf_limit_capped")
	b.emit(
		asm.Mov.Imm(asm.R0, 0),
		asm.JLT.Reg32(asm.R4, rCost, "bf_limit_store"),
		asm.Sub.Reg32(asm.R4, rCost),
		asm.Mov.Imm(asm.R0, 1),
	)
	b.label("bf_limit_store")
	b.emit(
		asm.StoreMem(asm.R1, limitOffCredit, asm.R4, asm.Word),
		asm.Mov.Reg(rCost, asm.R0),
		asm.FnSpinUnlock.Call(),
		asm.Mov.Reg(asm.R0, rCost),
		asm.Return(),
	)
	b.label("bf_limit_none")
	b.emit(asm.Mov.Imm(asm.R0, 0), asm.Return())
}

// emitMatchList emits matches in any order (they are pure), combining
// compares as emitRule does.
func (g *gen) emitMatchList(ms []*ir.Match, miss string) error {
	return g.emitMatches(&rulePlan{matches: ms}, miss)
}

// setupLimits finds how many buckets a counter slot needs (the most limit
// matches of one rule of the chain or of a user chain it reaches) and, when
// there are any, the kernel's HZ.
func (g *gen) setupLimits(opts Options) error {
	k := maxLimits(g.chain)
	if g.uc != nil {
		for _, p := range g.uc.plans {
			k = max(k, maxLimits(p.chain))
		}
	}
	g.limitsPerRule = k
	if k == 0 {
		return nil
	}
	g.hz = opts.HZ
	if g.hz == 0 {
		hz, err := KernelHZ()
		if err != nil {
			return err
		}
		g.hz = hz
	}
	return nil
}

// addLimitMap adds bf_limit when the compiled rules use meta.limit:
// entries is the number of counter slots.
func (g *gen) addLimitMap(spec *ebpf.CollectionSpec, entries uint32) {
	if g.limitsPerRule == 0 {
		return
	}
	spec.Maps[LimitMap] = limitMapSpec(entries * uint32(g.limitsPerRule))
}

// KernelHZ returns the running kernel's CONFIG_HZ: from its configuration
// (kconfig.HZ), else measured once (MeasureHZ over 200 ms).
func KernelHZ() (uint32, error) {
	hz, err := kconfig.HZ()
	if err == nil {
		return hz, nil
	}
	measuredOnce.Do(func() { measured, measureErr = MeasureHZ(200 * time.Millisecond) })
	if measureErr != nil {
		return 0, fmt.Errorf("meta.limit needs the kernel's HZ: %w; %w", err, measureErr)
	}
	return measured, nil
}

var (
	measuredOnce sync.Once
	measured     uint32
	measureErr   error
)
