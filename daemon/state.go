package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/bpfilter-go/bpfilter/bpf"
	"github.com/bpfilter-go/bpfilter/daemon/proto"
	"github.com/bpfilter-go/bpfilter/engine"
	"github.com/bpfilter-go/bpfilter/engine/localroutes"
	"github.com/bpfilter-go/bpfilter/ir"
)

// entry is one chain of the runtime context.
type entry struct {
	Front string    `json:"front"`
	Chain *ir.Chain `json:"chain"`
	// Attached reports whether the chain is attached to its hook.
	Attached bool `json:"attached"`
	// Keys identify what the attachment occupies (see attachKeys); two
	// attached chains never share a key.
	Keys []string `json:"attach_keys,omitempty"`
	// NetnsID is the network namespace the chain was attached in.
	NetnsID uint64 `json:"netns,omitempty"`
	// AttachPath is the cgroup path as the daemon opens it.
	AttachPath string `json:"attach_path,omitempty"`
	// Gen is the generation the pin directory was made for; Pin is that
	// directory's name under the pin root (<name>@<gen>). A chain taking
	// over another's attachment in place inherits both.
	Gen uint64 `json:"gen"`
	Pin string `json:"pin,omitempty"`
	// Offsets are added to the kernel counters: the counts of unchanged
	// rules carried over from programs this one replaced.
	Offsets proto.Counters `json:"counter_offsets"`
	// Users are the user chains the chain JUMPs or GOTOs to (iptables
	// front), inlined into its program.
	Users []*ir.Chain `json:"user_chains,omitempty"`
	// Slots are the counter slots of the program when it was changed in
	// place (inplace.go); nil: a fresh compile's.
	Slots *engine.Slots `json:"counter_slots,omitempty"`

	prog Program
	// watchers end the log streams of this entry when it goes away.
	watchers map[uint64]context.CancelFunc
	// carry, set on an entry being applied, maps new rule index to old rule
	// index (-1: none) for counter carry-over; carryPolicy/carryErrors say
	// whether those counters carry over too.
	carry       []int
	carryPolicy bool
	carryErrors bool
	// delta, set on an entry built from the committed one by a per-rule
	// or set-element update, is what changed (journal_record.go): the
	// journal records it instead of the whole chain.
	delta *chainDelta
}

func (e *entry) name() string { return e.Chain.Name }

// attachOpts are the hook options handed to Program.Attach: the IR's, with
// the cgroup path made openable by the daemon.
func (e *entry) attachOpts() ir.HookOpts {
	o := e.Chain.HookOpts
	if e.AttachPath != "" {
		o.CgroupPath = e.AttachPath
	}
	return o
}

// State is the daemon's runtime context: every chain, by name, with the
// hook attachment it occupies. Its methods are safe for concurrent use;
// mutations are serialised.
type State struct {
	mu      sync.Mutex
	loader  Loader
	ns      Namespaces
	log     *slog.Logger
	chains  map[string]*entry
	nextGen uint64
	// nextWatch numbers log streams.
	nextWatch uint64
	// pinRoot and ctxFile are empty in transient mode.
	pinRoot string
	ctxFile string
	// ipt are the iptables front's tables, by family.
	ipt iptTables
	// ct installs the conntrack keeper table (conntrack.go); ctKept are
	// the network namespaces where the daemon holds one.
	ct     ctKeeper
	ctKept map[uint64]bool
	// atMirrors follow the routes of the namespaces holding chains with
	// address type matches (addrtype.go).
	atMirrors map[uint64]*localroutes.Mirror
	// iptRejectAsDrop translates iptables REJECT as DROP, with a warning
	// (--iptables-reject-as-drop; ipt_reject.go).
	iptRejectAsDrop bool
	// crashHook, when set (tests), is called at named points of an update
	// and may stop the process there.
	crashHook func(point string)
	// reloaded is set during Restore when a chain changed in place was
	// loaded again (its context entry changed: saved at the end).
	reloaded bool
	// inPlaceOff makes updates always reload (benchmarks compare).
	inPlaceOff bool
	// jr is the open context journal (journal.go); nil until the first
	// snapshot of this daemon, or after a failed append. epochFloor is
	// the highest snapshot or journal epoch seen (persist_journal.go).
	jr         *journal
	epochFloor uint64
}

// StateConfig configures a State.
type StateConfig struct {
	Loader     Loader
	Namespaces Namespaces
	Log        *slog.Logger
	// PinRoot is <bpffs>/bpfilter; empty: transient (nothing pinned).
	PinRoot string
	// ContextFile is where the context is saved; empty: transient.
	ContextFile string
	// IptablesRejectAsDrop translates iptables REJECT rules as DROP, with
	// a warning per rule, instead of refusing them.
	IptablesRejectAsDrop bool
}

// NewState returns an empty runtime context.
func NewState(cfg StateConfig) *State {
	lg := cfg.Log
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	ns := cfg.Namespaces
	if ns == nil {
		ns = procNamespaces{}
	}
	return &State{
		loader: cfg.Loader, ns: ns, log: lg, chains: map[string]*entry{},
		nextGen: 1, pinRoot: cfg.PinRoot, ctxFile: cfg.ContextFile,
		ct: netlinkKeeper{}, ctKept: map[uint64]bool{},
		iptRejectAsDrop: cfg.IptablesRejectAsDrop,
	}
}

func (s *State) persistent() bool { return s.ctxFile != "" }

// pinName is <name>@<gen>, with the dots of the chain name replaced by '_'
// (bpffs refuses names with dots). The generation alone makes it unique.
func pinName(name string, gen uint64) string {
	return fmt.Sprintf("%s@%d", strings.ReplaceAll(name, ".", "_"), gen)
}

// pinDir is the entry's pin directory.
func (s *State) pinDir(e *entry) string {
	if e.Pin == "" {
		return filepath.Join(s.pinRoot, pinName(e.name(), e.Gen))
	}
	return filepath.Join(s.pinRoot, e.Pin)
}

// pinInUse reports whether a chain of the context uses pin directory name.
func (s *State) pinInUse(name string) bool {
	for _, e := range s.chains {
		if filepath.Base(s.pinDir(e)) == name {
			return true
		}
	}
	return false
}

func (s *State) crash(point string) {
	if s.crashHook != nil {
		s.crashHook(point)
	}
}

// sortedNames returns chain names in a stable order.
func (s *State) sortedNames() []string {
	names := make([]string, 0, len(s.chains))
	for n := range s.chains {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// attachKeys returns the identifiers of the spot attaching c occupies: the
// interface for XDP and for each TC direction, the cgroup for each cgroup
// hook, each priority for each netfilter hook. Interfaces and netfilter
// hooks are per network namespace; cgroups are identified by inode. On
// exclusive hooks (see exclusive) a second chain on a spot is refused with
// EEXIST; on the others the keys only decide which new chain takes over an
// old one's attachment in place.
func attachKeys(c *ir.Chain, netns uint64, cgroupIno uint64) []string {
	h := c.Hook
	switch h.Flavour() {
	case ir.FlavourXDP, ir.FlavourTC:
		return []string{fmt.Sprintf("%s/netns:%d/ifindex:%d", h, netns, c.HookOpts.Ifindex)}
	case ir.FlavourNF:
		p := bpf.NFPriorities(c.HookOpts)
		return []string{
			fmt.Sprintf("%s/netns:%d/priority:%d", h, netns, p[0]),
			fmt.Sprintf("%s/netns:%d/priority:%d", h, netns, p[1]),
		}
	case ir.FlavourCgroupSkb, ir.FlavourCgroupSockAddr:
		return []string{fmt.Sprintf("%s/cgroup-ino:%d", h, cgroupIno)}
	}
	return nil
}

// exclusive reports whether a spot of hook h holds a single chain: one XDP
// program per interface, one program per netfilter hook and priority. TCX
// and cgroup links stack several programs on one interface or cgroup, as
// upstream bpfilter allows.
func exclusive(h ir.Hook) bool {
	f := h.Flavour()
	return f == ir.FlavourXDP || f == ir.FlavourNF
}

func sameKeys(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// conflict returns the attached chain, other than those named in skip, that
// occupies one of keys.
func (s *State) conflict(keys []string, skip map[string]bool) (string, string) {
	for _, n := range s.sortedNames() {
		e := s.chains[n]
		if skip[n] || !e.Attached || !exclusive(e.Chain.Hook) {
			continue
		}
		for _, k := range e.Keys {
			for _, nk := range keys {
				if k == nk {
					return n, k
				}
			}
		}
	}
	return "", ""
}

// Dump prints the context for humans: per hook, its chains.
func (s *State) Dump() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	byHook := map[ir.Hook][]*entry{}
	for _, n := range s.sortedNames() {
		e := s.chains[n]
		byHook[e.Chain.Hook] = append(byHook[e.Chain.Hook], e)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "context: %d chains, next generation %d, persistent=%v\n", len(s.chains), s.nextGen, s.persistent())
	for _, h := range ir.Hooks() {
		es := byHook[h]
		if len(es) == 0 {
			continue
		}
		fmt.Fprintf(&b, "%s:\n", h)
		for _, e := range es {
			state := "loaded"
			if e.Attached {
				state = "attached " + strings.Join(e.Keys, " ")
			}
			fmt.Fprintf(&b, "  %s front=%s gen=%d rules=%d %s\n", e.name(), e.Front, e.Gen, len(e.Chain.Rules), state)
		}
	}
	return b.String()
}
