package daemon

import (
	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
	"github.com/bpfilter-go/bpfilter/frontends/iptables/translate"
	"github.com/bpfilter-go/bpfilter/frontends/iptables/xt"
)

// iptBestRevision returns the highest revision of an extension that
// bpfilter both decodes (package xt has a codec) and does not refuse by
// name (translate.Unsupported). The standard target ("") and ERROR are
// revision 0, as in the kernel.
func iptBestRevision(fam abi.Family, target bool, name string) (int, bool) {
	if target && (name == "" || name == "ERROR" || name == "standard") {
		return 0, true
	}
	if _, refused := translate.Unsupported[name]; refused {
		return 0, false
	}
	kind := xt.Match
	if target {
		kind = xt.Target
	}
	best := -1
	for rev := 0; rev < 256; rev++ {
		if xt.Lookup(kind, fam.XTFamily(), name, uint8(rev)) != nil {
			best = rev
		}
	}
	return best, best >= 0
}
