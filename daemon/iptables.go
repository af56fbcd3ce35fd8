package daemon

import (
	"github.com/bpfilter-go/bpfilter/daemon/proto"
)

// IptablesPriorities are the netfilter priorities of the iptables chains:
// just before iptables' own filter table (0). The ip6tables chains use the
// two priorities below these (see iptPriorities).
var IptablesPriorities = [2]int32{-2, -1}

// ensureIptables, enabled, installs the iptables front's tables when their
// chains are missing: the stored filter tables, or the kernel's empty ones
// (builtin chains INPUT, FORWARD and OUTPUT with ACCEPT policies, named
// iptables.* and ip6tables.*), translated and attached to the daemon's
// network namespace. Disabled, it removes every iptables chain and
// forgets the tables.
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
		if len(p.remove) == 0 && len(s.ipt) == 0 {
			return nil
		}
		p.ipt = iptTables{}
	} else {
		for _, fam := range iptFamilies {
			t, err := s.iptCurrent(fam)
			if err != nil {
				return err
			}
			rs, err := s.iptTranslate(t.table)
			if err != nil {
				return err
			}
			for _, c := range rs.Chains {
				if c.User || s.chains[c.Name] != nil {
					continue
				}
				e, err := s.prepare(proto.FrontIptables, c, self, true)
				if err != nil {
					return err
				}
				p.add = append(p.add, e)
			}
		}
		if len(p.add) == 0 {
			return nil
		}
	}
	if err := s.checkPlan(p); err != nil {
		return err
	}
	return s.apply(p)
}
