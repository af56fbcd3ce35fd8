package translate

import (
	"fmt"

	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
	"github.com/bpfilter-go/bpfilter/frontends/iptables/xt"
	"github.com/bpfilter-go/bpfilter/ir"
)

// ctStates are the conntrack state bits ct.state knows.
const ctStates = ir.CtStateInvalid | ir.CtStateEstablished | ir.CtStateRelated | ir.CtStateNew | ir.CtStateUntracked

// ctEntryStates are the states of packets with a conntrack entry.
const ctEntryStates = ir.CtStateEstablished | ir.CtStateRelated | ir.CtStateNew

// conntrack translates xt_conntrack_mtinfo3 (conntrack_mt, revisions 1 and
// 2 through AsV3). Every given criterion must hold, each inverted by its
// own flag. Without a conntrack entry conntrack_mt returns the state
// criterion's result when it was given, false otherwise: the entry
// fields hold for such packets (ir/conntrack.go), so the state match
// decides, and without --ctstate the rule requires an entry
// (ct.state any NEW,ESTABLISHED,RELATED).
func (rc *ruleCtx) conntrack(c *xt.Conntrack) error {
	if c.MatchFlags&xt.CTState != 0 {
		if err := rc.ctState(c.StateMask, c.InvertFlags&xt.CTState != 0); err != nil {
			return err
		}
	} else {
		rc.addCtState(ctEntryStates, false)
	}
	inv := func(flag uint16) bool { return c.InvertFlags&flag != 0 }
	if c.MatchFlags&xt.CTProto != 0 {
		// (nf_ct_protonum(ct) == l4proto) ^ invert.
		if c.L4Proto > 255 {
			return rc.refuse(fmt.Sprintf("--ctproto %d", c.L4Proto), "")
		}
		rc.add(ir.Match{Field: ir.CtProto, Op: ir.OpEq, Negate: inv(xt.CTProto), Value: []byte{byte(c.L4Proto)}})
	}
	if c.MatchFlags&xt.CTDirection != 0 {
		// (CTINFO2DIR(ctinfo) == ORIGINAL) ^ !invert: the invert flag
		// selects REPLY.
		dir := byte(ir.CtDirOriginal)
		if inv(xt.CTDirection) {
			dir = ir.CtDirReply
		}
		rc.add(ir.Match{Field: ir.CtDir, Op: ir.OpEq, Value: []byte{dir}})
	}
	v6 := rc.tr.fam == abi.IPv6
	for _, a := range []struct {
		flag       uint16
		addr, mask *[16]byte
		f4, f6     ir.Field
	}{
		{xt.CTOrigSrc, &c.OrigSrcAddr, &c.OrigSrcMask, ir.CtOrigSaddr4, ir.CtOrigSaddr6},
		{xt.CTOrigDst, &c.OrigDstAddr, &c.OrigDstMask, ir.CtOrigDaddr4, ir.CtOrigDaddr6},
		{xt.CTReplSrc, &c.ReplSrcAddr, &c.ReplSrcMask, ir.CtReplSaddr4, ir.CtReplSaddr6},
		{xt.CTReplDst, &c.ReplDstAddr, &c.ReplDstMask, ir.CtReplDaddr4, ir.CtReplDaddr6},
	} {
		if c.MatchFlags&a.flag == 0 {
			continue
		}
		// conntrack_addrcmp: ((kaddr ^ uaddr) & umask) == 0 over the
		// table family's address.
		f, w := a.f4, 4
		if v6 {
			f, w = a.f6, 16
		}
		val, mask := append([]byte(nil), a.addr[:w]...), append([]byte(nil), a.mask[:w]...)
		for i := range val {
			val[i] &= mask[i]
		}
		rc.add(ir.Match{Field: f, Op: ir.OpEq, Negate: inv(a.flag), Value: val, Mask: mask})
	}
	for _, p := range []struct {
		flag, lo, hi uint16
		f            ir.Field
		opt          string
	}{
		{xt.CTOrigSrcPort, c.OrigSrcPort, c.OrigSrcPortHigh, ir.CtOrigSport, "--ctorigsrcport"},
		{xt.CTOrigDstPort, c.OrigDstPort, c.OrigDstPortHigh, ir.CtOrigDport, "--ctorigdstport"},
		{xt.CTReplSrcPort, c.ReplSrcPort, c.ReplSrcPortHigh, ir.CtReplSport, "--ctreplsrcport"},
		{xt.CTReplDstPort, c.ReplDstPort, c.ReplDstPortHigh, ir.CtReplDport, "--ctrepldstport"},
	} {
		if c.MatchFlags&p.flag == 0 {
			continue
		}
		// port_match: (min <= ntohs(u.all) <= max) ^ invert.
		rc.addRange(p.f, uint64(p.lo), uint64(p.hi), inv(p.flag))
	}
	if c.MatchFlags&xt.CTStatus != 0 {
		// !!(status_mask & ct->status) ^ invert.
		rc.add(ir.Match{Field: ir.CtStatus, Op: ir.OpAny, Negate: inv(xt.CTStatus), Value: ir.KindCtStatus.UintValue(uint64(c.StatusMask))})
	}
	if c.MatchFlags&xt.CTExpires != 0 {
		// (min <= nf_ct_expires(ct) / HZ <= max) ^ invert.
		rc.addRange(ir.CtExpire, uint64(c.ExpiresMin), uint64(c.ExpiresMax), inv(xt.CTExpires))
	}
	return nil
}

// ctState translates --ctstate: !!(state_mask & statebit) ^ invert, where
// statebit has SNAT and DNAT added when the entry's status has
// IPS_SRC_NAT or IPS_DST_NAT. Those bits are matched on ct.status: alone,
// "the entry has one of the NAT bits"; inverted, with the other states,
// "none of the states and none of the NAT bits" (the fields hold without
// an entry, as the inverted criterion does). Not inverted, NAT bits
// together with other states would need a disjunction and are refused.
func (rc *ruleCtx) ctState(mask uint16, inv bool) error {
	var nat uint64
	if mask&xt.CTStateSNAT != 0 {
		nat |= ir.CtStatusSrcNAT
	}
	if mask&xt.CTStateDNAT != 0 {
		nat |= ir.CtStatusDstNAT
	}
	base := uint32(mask) & ctStates
	switch {
	case nat == 0:
		rc.addCtState(base, inv)
	case inv:
		if base != 0 {
			rc.addCtState(base, true)
		}
		rc.add(ir.Match{Field: ir.CtStatus, Op: ir.OpAny, Negate: true, Value: ir.KindCtStatus.UintValue(nat)})
	case base == 0:
		rc.addCtState(ctEntryStates, false)
		rc.add(ir.Match{Field: ir.CtStatus, Op: ir.OpAny, Value: ir.KindCtStatus.UintValue(nat)})
	default:
		return rc.refuse("--ctstate SNAT/DNAT together with other states", "either the state or the NAT status may hold: the IR has no disjunction within a rule")
	}
	return nil
}

// addRange adds "lo <= f <= hi" (an eq match when lo == hi), inverted
// with neg. iptables accepts reversed bounds (lo > hi), which never hold:
// inverted, the criterion holds for every entry and adds nothing; not
// inverted, it holds for none, which "ct.status any NONE" (never true
// with an entry, and holding without one like every entry field) says.
func (rc *ruleCtx) addRange(f ir.Field, lo, hi uint64, neg bool) {
	k := f.Info().Kind
	switch {
	case lo > hi && neg:
	case lo > hi:
		rc.add(ir.Match{Field: ir.CtStatus, Op: ir.OpAny, Value: ir.KindCtStatus.UintValue(0)})
	case lo == hi:
		rc.add(ir.Match{Field: f, Op: ir.OpEq, Negate: neg, Value: k.UintValue(lo)})
	default:
		rc.add(ir.Match{Field: f, Op: ir.OpRange, Negate: neg, Value: k.UintValue(lo), High: k.UintValue(hi)})
	}
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
