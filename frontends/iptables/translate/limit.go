package translate

import (
	"github.com/bpfilter-go/bpfilter/frontends/iptables/xt"
	"github.com/bpfilter-go/bpfilter/ir"
)

// limit translates struct xt_rateinfo (limit_mt) into a meta.limit token
// bucket with the same period and burst. Only avg and burst describe the
// rule: the rest of the blob is the kernel's state, which a replace resets
// (see backend/limit.go). The backend checks the burst and overflow as
// limit_mt_check does, once the kernel's HZ is known.
func (rc *ruleCtx) limit(l *xt.Limit) error {
	if l.Cost != 0 {
		// limit_mt_check keeps a cost (and credit_cap) user space put in
		// the blob; iptables leaves them 0 and so does a table read back.
		return rc.refuse("limit with a preset cost", "the blob carries kernel state (cost, credit_cap) that bpfilter derives from --limit and --limit-burst")
	}
	if l.Burst == 0 {
		return rc.refuse("limit --limit-burst 0", "the kernel refuses a zero burst (ERANGE)")
	}
	rc.add(ir.Match{Field: ir.MetaLimit, Op: ir.OpEq, Value: ir.Limit{Avg: l.Avg, Burst: l.Burst}.Value()})
	return nil
}
