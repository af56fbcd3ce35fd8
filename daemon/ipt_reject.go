package daemon

import (
	"github.com/bpfilter-go/bpfilter/daemon/proto"
	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
	"github.com/bpfilter-go/bpfilter/frontends/iptables/xt"
)

// REJECT as DROP: a netfilter BPF program can only return a verdict, so
// the ICMP error or TCP reset of REJECT cannot be sent. By default REJECT
// rules are refused (translate.Unsupported gives the reason); with
// --iptables-reject-as-drop they drop the packet and every translation
// logs a warning naming the rule.

// iptWarn returns the translator's warning sink for fam's tables.
func (s *State) iptWarn(fam abi.Family) func(string) {
	return func(msg string) {
		s.log.Warn(famTool(fam)+": "+msg, "flag", "--iptables-reject-as-drop")
	}
}

// iptRevision is IptRevision, with REJECT available when it is translated
// as DROP.
func (s *State) iptRevision(fam abi.Family, target bool, req []byte) (int, error) {
	if s.iptRejectAsDrop && target && len(req) >= abi.RevisionRequestSize && cstring(req[:abi.ExtNameLen]) == "REJECT" {
		best := -1
		for rev := 0; rev < 256; rev++ {
			if xt.Lookup(xt.Target, fam.XTFamily(), "REJECT", uint8(rev)) != nil {
				best = rev
			}
		}
		if best < 0 {
			return 0, errorf(proto.ENOENT, "%s: no target \"REJECT\" in bpfilter", famTool(fam))
		}
		if rev := int(req[abi.ExtNameLen]); rev > best {
			return best, errorf(proto.EOPNOTSUPP, "%s: target \"REJECT\" revision %d is not supported (best: %d)", famTool(fam), rev, best)
		}
		return best, nil
	}
	return IptRevision(fam, target, req)
}
