package daemon

import (
	"errors"
	"fmt"
	"os"
	"sort"

	"github.com/bpfilter-go/bpfilter/compat/nfsemantics"
	"github.com/bpfilter-go/bpfilter/daemon/proto"
	"github.com/bpfilter-go/bpfilter/ir"
)

// Conntrack keeping: a BPF program reading the conntrack entry sees none
// unless conntrack is active in its network namespace (package
// nfsemantics). The daemon installs nfsemantics' keeper table in every
// namespace where a chain in force reads the conntrack entry, before the
// chain is swapped in, and deletes it once no chain there needs it. In
// standard mode the tables outlive the daemon, as the chains do.

// ctKeeper installs and removes the keeper table in the network namespace
// of the calling thread (called inside State.inNetns).
type ctKeeper interface {
	Install() error
	Remove() error
}

// netlinkKeeper is the ctKeeper of the daemon: nf_tables netlink.
type netlinkKeeper struct{}

// threadNetns runs fn with a descriptor of the calling thread's network
// namespace.
func threadNetns(fn func(fd int) error) error {
	f, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return fmt.Errorf("opening the network namespace: %w", err)
	}
	defer f.Close()
	return fn(int(f.Fd()))
}

func (netlinkKeeper) Install() error { return threadNetns(nfsemantics.InstallConntrackKeeper) }

func (netlinkKeeper) Remove() error { return threadNetns(nfsemantics.RemoveConntrackKeeper) }

// readsConntrack reports whether e's chain or its user chains read the
// conntrack entry.
func (e *entry) readsConntrack() bool {
	rs := &ir.Ruleset{Chains: append([]*ir.Chain{e.Chain}, e.Users...)}
	return nfsemantics.NeedsConntrack(rs)
}

// ctNeeds returns the network namespaces where a chain of chains reads the
// conntrack entry, sorted.
func ctNeeds(chains map[string]*entry) []uint64 {
	set := map[uint64]bool{}
	for _, e := range chains {
		if e.Attached && e.readsConntrack() {
			set[e.NetnsID] = true
		}
	}
	out := make([]uint64, 0, len(set))
	for id := range set {
		out = append(out, id)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// ctAfter returns the chains in force once plan p is committed (commit's
// order: additions, then removals).
func (s *State) ctAfter(p *plan) map[string]*entry {
	out := make(map[string]*entry, len(s.chains)+len(p.add))
	for n, e := range s.chains {
		out[n] = e
	}
	for _, e := range p.add {
		out[e.name()] = e
	}
	for _, n := range p.remove {
		delete(out, n)
	}
	return out
}

// ctEnsure installs the keeper table in every namespace that needs it once
// p is committed and does not have it from the daemon yet. On failure the
// tables it just installed are removed again and nothing else changes.
// s.mu must be held.
func (s *State) ctEnsure(p *plan) error {
	if s.ct == nil {
		return nil
	}
	var added []uint64
	for _, id := range ctNeeds(s.ctAfter(p)) {
		if s.ctKept[id] {
			continue
		}
		if err := s.inNetns(p, id, s.ct.Install); err != nil {
			for _, a := range added {
				if rerr := s.inNetns(p, a, s.ct.Remove); rerr != nil {
					s.log.Warn("removing the conntrack keeper table after a failure", "netns", a, "err", rerr)
				}
				delete(s.ctKept, a)
			}
			return errorf(proto.EIO, "keeping conntrack active for rules reading the conntrack state (nftables table inet %s): %w", nfsemantics.ConntrackKeeperTable, err)
		}
		s.ctKept[id] = true
		added = append(added, id)
	}
	return nil
}

// ctRelease deletes the keeper table from the namespaces where no chain in
// force needs it any more. p (may be nil) is the plan just applied, whose
// client's namespace is entered directly. Failures are logged: the change
// is in force. s.mu must be held.
func (s *State) ctRelease(p *plan) {
	if s.ct == nil {
		return
	}
	need := map[uint64]bool{}
	for _, id := range ctNeeds(s.chains) {
		need[id] = true
	}
	for _, id := range s.ctKeptSorted() {
		if need[id] {
			continue
		}
		if err := s.ctRemove(p, id); err != nil {
			s.log.Warn("removing the conntrack keeper table", "netns", id, "err", err)
		}
	}
}

// ctRemove deletes the keeper table of namespace id; a namespace that is
// gone took its table with it.
func (s *State) ctRemove(p *plan, id uint64) error {
	run := func(fn func() error) error { return s.ns.InNetnsID(id, fn) }
	if p != nil {
		run = func(fn func() error) error { return s.inNetns(p, id, fn) }
	}
	err := run(s.ct.Remove)
	var gone *netnsGoneError
	if err == nil || errors.As(err, &gone) {
		delete(s.ctKept, id)
		return nil
	}
	if errors.Is(err, nfsemantics.ErrForeignKeeper) {
		// Replaced by someone else's table since the daemon installed
		// it: not the daemon's to delete.
		s.log.Warn("the conntrack keeper table is no longer bpfilter's; left in place", "netns", id, "err", err)
		delete(s.ctKept, id)
		return nil
	}
	return err
}

// ctKeptSorted returns the namespaces holding a keeper table, sorted.
func (s *State) ctKeptSorted() []uint64 {
	out := make([]uint64, 0, len(s.ctKept))
	for id := range s.ctKept {
		out = append(out, id)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// ctRestore installs the keeper table again in every namespace whose
// restored chains need it (a standard-mode daemon left them in place; this
// repairs one deleted meanwhile). Failures are logged: the chains are in
// force either way. s.mu must be held.
func (s *State) ctRestore() {
	if s.ct == nil {
		return
	}
	for _, id := range ctNeeds(s.chains) {
		err := s.ns.InNetnsID(id, s.ct.Install)
		var gone *netnsGoneError
		if errors.As(err, &gone) {
			continue
		}
		if err != nil {
			s.log.Error("keeping conntrack active for restored chains reading the conntrack state failed; they see every packet as INVALID", "netns", id, "table", nfsemantics.ConntrackKeeperTable, "err", err)
			continue
		}
		s.ctKept[id] = true
	}
}

// ctShutdown deletes every keeper table the daemon holds (transient stop).
// s.mu must be held.
func (s *State) ctShutdown() error {
	var errs []error
	for _, id := range s.ctKeptSorted() {
		if err := s.ctRemove(nil, id); err != nil {
			errs = append(errs, fmt.Errorf("removing the conntrack keeper table of netns %d: %w", id, err))
		}
	}
	return errors.Join(errs...)
}
