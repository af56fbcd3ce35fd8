package translate

import (
	"fmt"
	"strings"

	"github.com/bpfilter-go/bpfilter/frontends/iptables/xt"
	"github.com/bpfilter-go/bpfilter/ir"
)

// ctStates are the conntrack state bits ct.state knows.
const ctStates = ir.CtStateInvalid | ir.CtStateEstablished | ir.CtStateRelated | ir.CtStateNew | ir.CtStateUntracked

// conntrackOptions name the match flags of xt_conntrack for refusals.
var conntrackOptions = []struct {
	flag uint16
	name string
}{
	{xt.CTOrigSrc, "--ctorigsrc"}, {xt.CTOrigDst, "--ctorigdst"},
	{xt.CTReplSrc, "--ctreplsrc"}, {xt.CTReplDst, "--ctrepldst"}, {xt.CTStatus, "--ctstatus"},
	{xt.CTExpires, "--ctexpire"}, {xt.CTOrigSrcPort, "--ctorigsrcport"}, {xt.CTOrigDstPort, "--ctorigdstport"},
	{xt.CTReplSrcPort, "--ctreplsrcport"}, {xt.CTReplDstPort, "--ctrepldstport"}, {xt.CTDirection, "--ctdir"},
}

// conntrack translates xt_conntrack_mtinfo3 (conntrack_mt): only the state
// criterion. The state bit is computed from skb->_nfct like the kernel
// does (ct.state); (state_mask & bit) != 0, inverted with !.
func (rc *ruleCtx) conntrack(c *xt.Conntrack) error {
	var other []string
	for _, o := range conntrackOptions {
		if c.MatchFlags&o.flag != 0 {
			other = append(other, o.name)
		}
	}
	if len(other) > 0 {
		return rc.refuse("conntrack "+strings.Join(other, " "), "only --ctstate (and -m state) read the conntrack entry; its tuple, status and timeout are not reachable from a netfilter BPF program without the conntrack kfuncs")
	}
	state, proto := c.MatchFlags&xt.CTState != 0, c.MatchFlags&xt.CTProto != 0
	if state {
		if c.StateMask&(xt.CTStateSNAT|xt.CTStateDNAT) != 0 {
			return rc.refuse("--ctstate SNAT/DNAT", "the NAT status bits of the conntrack entry are not read")
		}
		inv := c.InvertFlags&xt.CTState != 0
		if proto && (inv || c.StateMask&(xt.CTStateInvalid|xt.CTStateUntracked) != 0) {
			// Without an entry conntrack_mt returns after the state check,
			// ignoring --ctproto; ct.proto is absent there.
			return rc.refuse("--ctstate matching packets without a conntrack entry together with --ctproto", "conntrack_mt ignores --ctproto for those packets, the IR conjunction would not")
		}
		rc.addCtState(uint32(c.StateMask)&ctStates, inv)
	}
	if proto {
		// (nf_ct_protonum(ct) == l4proto) ^ invert, only for packets with
		// an entry (conntrack_mt returns false without one).
		if c.L4Proto > 255 {
			return rc.refuse(fmt.Sprintf("--ctproto %d", c.L4Proto), "")
		}
		rc.add(ir.Match{Field: ir.CtProto, Op: ir.OpEq, Negate: c.InvertFlags&xt.CTProto != 0, Value: []byte{byte(c.L4Proto)}})
	}
	return nil
}

// xtStateUntracked is XT_STATE_UNTRACKED of match state revision 0.
const xtStateUntracked = 1 << 6

// state translates xt_state_info (state_mt): statemask & statebit, with
// UNTRACKED at bit 6 instead of conntrack's bit 8.
func (rc *ruleCtx) state(s *xt.State) error {
	mask := s.StateMask & (ir.CtStateInvalid | ir.CtStateEstablished | ir.CtStateRelated | ir.CtStateNew)
	if s.StateMask&xtStateUntracked != 0 {
		mask |= ir.CtStateUntracked
	}
	rc.addCtState(mask, false)
	return nil
}

func (rc *ruleCtx) addCtState(mask uint32, inv bool) {
	rc.add(ir.Match{Field: ir.CtState, Op: ir.OpAny, Negate: inv, Value: ir.KindCtState.UintValue(uint64(mask))})
}
