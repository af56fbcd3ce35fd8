package translate

import (
	"fmt"

	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
	"github.com/bpfilter-go/bpfilter/frontends/iptables/xt"
	"github.com/bpfilter-go/bpfilter/ir"
)

// never is a match that never holds (a value with bits outside its mask);
// negated, it holds for every packet of the family.
func never(f ir.Field, negate bool) ir.Match {
	w := f.Width()
	v := make([]byte, w)
	v[w-1] = 1
	return ir.Match{Field: f, Op: ir.OpEq, Negate: negate, Value: v, Mask: make([]byte, w)}
}

// length translates xt_length_info (length_mt, length_mt6): the IPv4 total
// length, or the IPv6 payload length + 40 computed in 16 bits, in
// [min, max], inverted with !.
func (rc *ruleCtx) length(l *xt.Length) error {
	inv := l.Invert != 0
	if l.Min > l.Max {
		return rc.refuse(fmt.Sprintf("--length %d:%d", l.Min, l.Max), "empty range")
	}
	if rc.tr.fam == abi.IPv4 {
		if l.Min == l.Max {
			rc.add(ir.Match{Field: ir.IP4Len, Op: ir.OpEq, Negate: inv, Value: be(uint64(l.Min), 2)})
		} else {
			rc.add(ir.Match{Field: ir.IP4Len, Op: ir.OpRange, Negate: inv, Value: be(uint64(l.Min), 2), High: be(uint64(l.Max), 2)})
		}
		return nil
	}
	// pktlen = (u16)(payload_len + 40): payload_len = pktlen - 40 mod
	// 2^16, so [min, max] maps to one range or two when it wraps.
	lo, hi := l.Min-40, l.Max-40 // uint16 arithmetic wraps like the kernel's
	m := ir.Match{Field: ir.IP6PayloadLen, Op: ir.OpRanges, Negate: inv}
	if lo <= hi {
		m.Value, m.High = be(uint64(lo), 2), be(uint64(hi), 2)
	} else {
		m.Value = append(be(0, 2), be(uint64(lo), 2)...)
		m.High = append(be(uint64(hi), 2), be(0xffff, 2)...)
	}
	rc.add(m)
	return nil
}

// ttl translates ipt_ttl_info and ip6t_hl_info: eq, ne, lt, gt.
func (rc *ruleCtx) ttl(name string, t *xt.TTL) error {
	f := ir.IP4TTL
	if name == "hl" {
		f = ir.IP6HopLimit
	}
	v := uint64(t.Value)
	switch t.Mode {
	case xt.TTLEq, xt.TTLNe:
		rc.add(ir.Match{Field: f, Op: ir.OpEq, Negate: t.Mode == xt.TTLNe, Value: []byte{t.Value}})
	case xt.TTLLt:
		if v == 0 {
			rc.add(never(f, false))
			return nil
		}
		rc.add(ir.Match{Field: f, Op: ir.OpRange, Value: []byte{0}, High: be(v-1, 1)})
	case xt.TTLGt:
		if v == 255 {
			rc.add(never(f, false))
			return nil
		}
		rc.add(ir.Match{Field: f, Op: ir.OpRange, Value: be(v+1, 1), High: []byte{255}})
	default:
		return rc.refuse(fmt.Sprintf("%s mode %d", name, t.Mode), "")
	}
	return nil
}

// iprange translates xt_iprange_mtinfo (iprange_mt4): the address in
// [min, max] (unsigned, host order), inverted with !. IPv6 ranges are
// refused: the backend compares at most 4 bytes as a range.
func (rc *ruleCtx) iprange(r *xt.IPRange) error {
	if rc.tr.fam == abi.IPv6 {
		return rc.iprange6(r)
	}
	for _, x := range []struct {
		on, inv uint8
		f       ir.Field
		lo, hi  [16]byte
	}{{xt.IPRangeSrc, xt.IPRangeSrcInv, ir.IP4Saddr, r.SrcMin, r.SrcMax}, {xt.IPRangeDst, xt.IPRangeDstInv, ir.IP4Daddr, r.DstMin, r.DstMax}} {
		if r.Flags&x.on == 0 {
			continue
		}
		inv := r.Flags&x.inv != 0
		lo, hi := x.lo[:4], x.hi[:4]
		if ir.Uint(lo) > ir.Uint(hi) {
			if !inv {
				rc.add(never(x.f, false))
			}
			continue
		}
		rc.add(ir.Match{Field: x.f, Op: ir.OpRanges, Negate: inv, Value: append([]byte(nil), lo...), High: append([]byte(nil), hi...)})
	}
	return nil
}
