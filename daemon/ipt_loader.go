package daemon

import (
	"github.com/bpfilter-go/bpfilter/daemon/proto"
	"github.com/bpfilter-go/bpfilter/engine"
	"github.com/bpfilter-go/bpfilter/ir"
)

// iptLoader is implemented by loaders that can run the iptables front's
// chains: a builtin chain together with the user chains it jumps to
// (inlined), whose counters start at zero when it replaces another
// program, as a kernel table's do after IPT_SO_SET_REPLACE.
type iptLoader interface {
	LoadIpt(c *ir.Chain, users []*ir.Chain) (Program, error)
	RestoreIpt(dir string, c *ir.Chain, users []*ir.Chain) (Program, error)
}

func iptEngineOptions(o engine.Options, c *ir.Chain, users []*ir.Chain) engine.Options {
	o.FreshCounters = true
	if len(users) > 0 {
		o.Ruleset = &ir.Ruleset{Chains: append([]*ir.Chain{c}, users...)}
	}
	return o
}

// LoadIpt loads an iptables chain with its user chains.
func (l EngineLoader) LoadIpt(c *ir.Chain, users []*ir.Chain) (Program, error) {
	return EngineLoader{Options: iptEngineOptions(l.Options, c, users)}.Load(c)
}

// RestoreIpt re-opens an iptables chain pinned in dir.
func (l EngineLoader) RestoreIpt(dir string, c *ir.Chain, users []*ir.Chain) (Program, error) {
	return EngineLoader{Options: iptEngineOptions(l.Options, c, users)}.Restore(dir, c)
}

// load loads an entry's chain: iptables chains through iptLoader, others
// with Load.
func (s *State) load(e *entry, c *ir.Chain) (Program, error) {
	if l, ok := s.loader.(iptLoader); ok && e.Front == proto.FrontIptables {
		return l.LoadIpt(c, e.Users)
	}
	if len(e.Users) > 0 {
		return nil, errorf(proto.EOPNOTSUPP, "chain %s: this loader cannot run user chains", c.Name)
	}
	return s.loader.Load(c)
}

// restoreProg re-opens an entry's pinned chain c (e's chain, or the
// successor found in its pins).
func (s *State) restoreProg(dir string, e *entry, c *ir.Chain, users []*ir.Chain) (Program, error) {
	if l, ok := s.loader.(iptLoader); ok && e.Front == proto.FrontIptables {
		return l.RestoreIpt(dir, c, users)
	}
	if len(users) > 0 {
		return nil, errorf(proto.EOPNOTSUPP, "chain %s: this loader cannot run user chains", c.Name)
	}
	return s.loader.Restore(dir, c)
}
