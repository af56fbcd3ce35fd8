package backend

import (
	"io"
	"strconv"

	"github.com/bpfilter-go/bpfilter/optimizer"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
)

// Options tune Compile.
type Options struct {
	// DumpBytecode, when set, receives the generated instructions with the
	// rule each one came from (bfcli --verbose=bytecode).
	DumpBytecode io.Writer
	// KernelBTF is the BTF of the kernel the program will run on. Netfilter
	// programs need it to resolve struct offsets and the kfunc
	// bpf_dynptr_from_skb. When nil, Compile loads the running kernel's BTF
	// (btf.LoadKernelSpec), so pass it explicitly to stay pure.
	KernelBTF *btf.Spec
	// LogRingSize is the size in bytes of the bf_log ring buffer: a power
	// of two multiple of the page size (0: DefaultLogRingSize).
	LogRingSize uint32
	// SetMinEntries is the capacity given to set maps beyond their initial
	// contents, so that elements can be added at run time (0:
	// DefaultSetMinEntries).
	SetMinEntries uint32
	// Plan are the optimiser's options: Plan.Linear compiles every rule
	// linearly, Plan.Previous keeps the rule IDs and table capacities of
	// the plan of the program being replaced (see optimizer.Diff and
	// ApplyDelta).
	Plan optimizer.Options
	// VerboseBPF makes the programs print a message with bpf_trace_printk
	// when a kernel call they make fails (bpfilter --verbose=bpf; see
	// verbose.go and VerboseMap). Off, the programs are unchanged.
	VerboseBPF bool
	// HZ is the tick rate of the kernel the program will run on, which
	// meta.limit's credits per jiffy and ct.expire's seconds depend on
	// (0: KernelHZ, read only when a rule needs it).
	HZ uint32
}

// Defaults of Options.
const (
	DefaultLogRingSize   = 1 << 18
	DefaultSetMinEntries = 1024
)

// Map and program names of a compiled chain.
const (
	ProgramName  = "bf_prog"
	CountersMap  = "bf_counters"
	LogMap       = "bf_log"
	LogRateMap   = "bf_log_rate"
	setMapPrefix = "bf_set_"
	licenseGPL   = "GPL"
)

// Program is a compiled chain.
type Program struct {
	// Spec holds the program bf_prog and its maps.
	Spec *ebpf.CollectionSpec
	// NumRules is the number of rules of the chain; it fixes the counter
	// layout (see CounterIndexPolicy and CounterIndexErrors).
	NumRules int
	// SetMaps maps each chain set name to the name of its map in Spec.
	SetMaps map[string]string
	// Insns is the number of instructions of bf_prog.
	Insns int
	// Plan is the optimiser's plan the program was generated from: its
	// segments, lookup tables (maps bf_t<seg>_<table>, bf_f<seg>_<filter>,
	// bf_c<seg>_<class>, bf_actions) and rule IDs, which are the counter
	// slots (Plan.CounterSlot, PolicySlot, ErrorSlot).
	Plan *optimizer.Plan
	// UserSlots is the counter slot of the first rule of each user chain
	// the chain JUMPs or GOTOs to (CompileInRuleset): rule j of user chain
	// u counts in UserSlots[u]+j, after the chain's own slots.
	UserSlots map[string]uint32
}

// CounterIndexRule returns the counter slot of rule i.
func CounterIndexRule(i int) uint32 { return uint32(i) }

// CounterIndexPolicy returns the counter slot of the chain policy.
func CounterIndexPolicy(nrules int) uint32 { return uint32(nrules) }

// CounterIndexErrors returns the counter slot of parse errors.
func CounterIndexErrors(nrules int) uint32 { return uint32(nrules) + 1 }

// CounterEntries returns the number of counter slots of a chain.
func CounterEntries(nrules int) uint32 { return uint32(nrules) + 2 }

// Counter is the value of one bf_counters slot on one CPU.
type Counter struct {
	Packets uint64
	Bytes   uint64
}

// SetMapName returns the map name of the i-th set of a chain.
func SetMapName(i int) string { return setMapPrefix + strconv.Itoa(i) }

// RuleSlot returns the counter slot of rule i: its plan rule ID.
func (p *Program) RuleSlot(i int) uint32 {
	if p.Plan != nil {
		return p.Plan.CounterSlot(i)
	}
	return CounterIndexRule(i)
}

// PolicySlot returns the counter slot of the policy.
func (p *Program) PolicySlot() uint32 {
	if p.Plan != nil {
		return p.Plan.PolicySlot()
	}
	return CounterIndexPolicy(p.NumRules)
}

// ErrorSlot returns the counter slot of parse errors.
func (p *Program) ErrorSlot() uint32 {
	if p.Plan != nil {
		return p.Plan.ErrorSlot()
	}
	return CounterIndexErrors(p.NumRules)
}

// CounterSlots returns the number of counter slots (bf_counters entries).
func (p *Program) CounterSlots() uint32 {
	if p.UserSlots != nil && p.Spec != nil && p.Spec.Maps[CountersMap] != nil {
		return p.Spec.Maps[CountersMap].MaxEntries
	}
	if p.Plan != nil {
		return p.Plan.CounterEntries()
	}
	return CounterEntries(p.NumRules)
}
