package daemon

import (
	"github.com/bpfilter-go/bpfilter/daemon/proto"
	"github.com/bpfilter-go/bpfilter/ir"
)

// IptablesPriorities are the netfilter priorities of the iptables
// pass-through chains: just before iptables' own filter table (0).
var IptablesPriorities = [2]int32{-2, -1}

// IptablesChains are the pass-through chains the daemon creates for the
// iptables front when iptables support is on: ACCEPT policy, no rules,
// attached to the daemon's network namespace. The iptables front fills
// them with chain.update requests (front "iptables").
var IptablesChains = []struct {
	Name string
	Hook ir.Hook
}{
	{"iptables.INPUT", ir.HookNFLocalIn},
	{"iptables.FORWARD", ir.HookNFForward},
	{"iptables.OUTPUT", ir.HookNFLocalOut},
}

// ensureIptables creates the missing pass-through chains (enabled) or
// removes every iptables chain (disabled).
func (s *State) ensureIptables(enabled bool, self Peer) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := &plan{front: proto.FrontIptables, via: self}
	if !enabled {
		for _, n := range s.sortedNames() {
			if s.chains[n].Front == proto.FrontIptables {
				p.remove = append(p.remove, n)
			}
		}
	} else {
		for _, ic := range IptablesChains {
			if s.chains[ic.Name] != nil {
				continue
			}
			c := &ir.Chain{
				Name: ic.Name, Hook: ic.Hook, Policy: ir.Verdict{Kind: ir.Accept},
				HookOpts: ir.HookOpts{Priorities: IptablesPriorities},
				Origin:   ir.Origin{Frontend: proto.FrontIptables, Text: "pass-through chain"},
			}
			e, err := s.prepare(proto.FrontIptables, c, self, true)
			if err != nil {
				return err
			}
			p.add = append(p.add, e)
		}
	}
	if len(p.add) == 0 && len(p.remove) == 0 {
		return nil
	}
	if err := s.checkPlan(p); err != nil {
		return err
	}
	return s.apply(p)
}
