package translate

import (
	"math/bits"

	"github.com/bpfilter-go/bpfilter/frontends/iptables/xt"
	"github.com/bpfilter-go/bpfilter/ir"
)

// addrtype6 translates the IPv6 tests of xt_addrtype's match_type6:
// every class bit of the mask (UNSPEC, UNICAST, MULTICAST) must be the
// address's, and, when the mask has route lookup bits (LOCAL, ANYCAST,
// UNREACHABLE), match_lookup_rt6 must answer one of them (ir/addrtype6.go).
// A mask of class bits and at most one lookup bit is OpAll; lookup bits
// alone are OpAny; class bits with several lookup bits would need an OR
// inside the negatable test and are refused.
func (rc *ruleCtx) addrtype6(a *xt.Addrtype, limit ir.AddrTypeIface) error {
	for _, side := range []struct {
		src    bool
		mask   uint16
		invert bool
	}{{true, a.Source, a.Flags&xt.AddrtypeInvertSource != 0}, {false, a.Dest, a.Flags&xt.AddrtypeInvertDest != 0}} {
		if side.mask == 0 {
			continue
		}
		look := side.mask & atLookup6
		class := side.mask &^ atLookup6
		op, lim := ir.OpAll, limit
		switch n := bits.OnesCount16(look); {
		case n == 0:
			// The class alone does not use the device.
			lim = ir.AddrTypeNoLimit
		case n > 1 && class != 0:
			return rc.refuse("ip6tables addrtype with UNSPEC, UNICAST or MULTICAST and more than one of LOCAL, ANYCAST, UNREACHABLE",
				"the kernel's test (every class and any looked-up type) is not one comparison of the address type field; split the types over two rules")
		case n > 1:
			op = ir.OpAny
		}
		rc.add(ir.Match{Field: ir.AddrTypeField(side.src, lim), Op: op, Negate: side.invert, Value: be(uint64(side.mask), 2)})
	}
	return nil
}
