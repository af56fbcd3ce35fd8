package daemon

import (
	"errors"
	"fmt"
	"strings"

	compat "github.com/bpfilter-go/bpfilter/compat/iptables"
	"github.com/bpfilter-go/bpfilter/daemon/proto"
	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
	"github.com/bpfilter-go/bpfilter/frontends/iptables/translate"
	"github.com/bpfilter-go/bpfilter/ir"
)

// iptPriorities are the netfilter priorities of each family's builtin
// chains: ip6tables' chains run just before iptables' (a program ACCEPTs
// the other family's packets, which go on to the next one).
var iptPriorities = map[abi.Family][2]int32{
	abi.IPv4: IptablesPriorities,
	abi.IPv6: {IptablesPriorities[0] - 2, IptablesPriorities[1] - 2},
}

// iptFamilies are the families of the iptables front, in a fixed order.
var iptFamilies = []abi.Family{abi.IPv4, abi.IPv6}

// iptPrefix is the IR chain name prefix of a family's chains.
func iptPrefix(fam abi.Family) string {
	return translate.ChainName(fam, "", true)
}

// iptTranslate translates a family's filter table into IR chains; REJECT
// becomes DROP with a logged warning when the daemon runs with
// --iptables-reject-as-drop (ipt_reject.go).
func (s *State) iptTranslate(t *abi.Table) (*ir.Ruleset, error) {
	rs, err := translate.Table(t, translate.Options{
		Priorities:   iptPriorities[t.Family],
		RuleText:     compat.RuleString,
		RejectAsDrop: s.iptRejectAsDrop,
		Warn:         s.iptWarn(t.Family),
	})
	if err != nil {
		var te *translate.Error
		if errors.As(err, &te) {
			return nil, errorf(proto.EOPNOTSUPP, "%s %w", famTool(t.Family), err)
		}
		return nil, errorf(proto.EINVAL, "%s: %w", famTool(t.Family), err)
	}
	return rs, nil
}

func famTool(fam abi.Family) string {
	if fam == abi.IPv6 {
		return "ip6tables"
	}
	return "iptables"
}

// defaultIptTable is the filter table as the kernel creates it: builtin
// chains, no rules, ACCEPT policies.
func defaultIptTable(fam abi.Family) (*iptTable, error) {
	t, err := compat.NewTable(fam, "filter")
	if err != nil {
		return nil, err
	}
	rep, blob, err := abi.Encode(t)
	if err != nil {
		return nil, fmt.Errorf("encoding the empty %s filter table: %w", fam, err)
	}
	return newIptTable(fam, rep.Marshal(blob))
}

// iptCurrent returns fam's table, the default empty one when none was
// installed. s.mu must be held.
func (s *State) iptCurrent(fam abi.Family) (*iptTable, error) {
	if t := s.ipt[fam]; t != nil {
		return t, nil
	}
	return defaultIptTable(fam)
}

// iptChainOf returns the IR chain name of an iptables chain and the IR rule
// index of its first rule: builtin chains start with translate's family
// guard rule.
func iptChainOf(fam abi.Family, c *abi.Chain) (string, int) {
	if c.Builtin() {
		return translate.ChainName(fam, c.Name, true), 1
	}
	return translate.ChainName(fam, c.Name, false), 0
}

// iptEntryCounts returns, for each entry of t (blob order), the counters
// of the IR rules built from it, from the IR chains' counters cnt (by IR
// chain name). A rule maps to one IR rule; a builtin chain's policy entry
// and a user chain's RETURN entry map to the IR chain's policy.
func iptEntryCounts(t *iptTable, cnt map[string]proto.Counters) []abi.Counters {
	out := make([]abi.Counters, len(t.offsets))
	set := func(origin int, c proto.Counter) {
		if origin >= 1 && origin <= len(out) {
			out[origin-1] = abi.Counters{Packets: c.Packets, Bytes: c.Bytes}
		}
	}
	for _, c := range t.table.Chains {
		name, first := iptChainOf(t.fam, c)
		cc, ok := cnt[name]
		if !ok {
			continue
		}
		for i, r := range c.Rules {
			if j := first + i; j < len(cc.Rules) {
				set(r.Origin, cc.Rules[j])
			}
		}
		set(c.Origin, cc.Policy)
	}
	return out
}

// iptLiveCounters reads the counters of family fam's chains, by IR chain
// name; a user chain's rules count what they matched from every builtin
// chain that runs them. s.mu must be held.
func (s *State) iptLiveCounters(fam abi.Family) (map[string]proto.Counters, error) {
	out := map[string]proto.Counters{}
	prefix := iptPrefix(fam)
	for _, n := range s.sortedNames() {
		e := s.chains[n]
		if e.Front != proto.FrontIptables || !strings.HasPrefix(n, prefix) || e.prog == nil {
			continue
		}
		c, err := e.counters()
		if err != nil {
			return nil, errorf(proto.EIO, "reading counters of chain %s: %w", n, err)
		}
		out[n] = c
		for u, rs := range c.User {
			uc := out[u]
			for j, r := range rs {
				if j >= len(uc.Rules) {
					uc.Rules = append(uc.Rules, proto.Counter{})
				}
				uc.Rules[j] = uc.Rules[j].Add(r)
			}
			out[u] = uc
		}
	}
	return out, nil
}

// iptCounters returns the counters of every entry of fam's table: base
// plus BPF. s.mu must be held.
func (s *State) iptCounters(fam abi.Family, t *iptTable) ([]abi.Counters, error) {
	live, err := s.iptLiveCounters(fam)
	if err != nil {
		return nil, err
	}
	bpf := iptEntryCounts(t, live)
	out := make([]abi.Counters, len(bpf))
	for i := range out {
		out[i] = bpf[i]
		if i < len(t.Base) {
			out[i].Packets += t.Base[i].Packets
			out[i].Bytes += t.Base[i].Bytes
		}
	}
	return out, nil
}
