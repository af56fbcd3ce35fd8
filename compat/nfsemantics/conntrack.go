package nfsemantics

import "github.com/bpfilter-go/bpfilter/ir"

// ConntrackKeeperTable is the name of the nftables table ConntrackKeeper
// declares (family inet).
const ConntrackKeeperTable = "bpfilter_conntrack"

// ConntrackKeeper is an nft -f script that keeps conntrack active for IPv4
// and IPv6 in the namespace it is loaded in (see the package comment).
// The rule carries KeeperComment, bpfilter's ownership mark.
const ConntrackKeeper = "table inet " + ConntrackKeeperTable + " {\n\tchain keep {\n\t\tct state new comment \"" + KeeperComment + "\"\n\t}\n}\n"

// NeedsConntrack reports whether a rule of the ruleset reads the conntrack
// entry (ct.state and the ir.IsCtEntryField fields), which is only meaningful with conntrack
// active.
func NeedsConntrack(rs *ir.Ruleset) bool {
	if rs == nil {
		return false
	}
	for _, c := range rs.Chains {
		if c == nil {
			continue
		}
		for _, r := range c.Rules {
			if r == nil {
				continue
			}
			for _, m := range r.Matches {
				if ir.ReadsConntrack(m.Field) {
					return true
				}
			}
		}
	}
	return false
}
