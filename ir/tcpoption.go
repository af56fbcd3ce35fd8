package ir

// RuleOutcome evaluates r's matches in order, as the kernel runs a rule's
// matches: matched reports that every match holds, hotDrop that a
// tcp.option match was reached (every earlier match held) on a packet
// whose TCP options cannot be walked, which netfilter drops on the spot.
//
// A match on a header the packet does not carry is false, and makes the
// rule miss before any hot drop: programs check every match's protocol
// guard first (iptables rules cannot combine such matches anyway).
func RuleOutcome(c *Chain, r *Rule, p *Packet, pp *Parsed) (matched, hotDrop bool) {
	// xt.l4 (ir/xtl4.go): the constructs decide in place what a
	// truncated transport header does, so the transport fields they guard
	// are left out of the pre-pass and read through xtl4View.
	xt := RuleHasXTL4(r)
	if canHotDrop(r) {
		for i := range r.Matches {
			m := &r.Matches[i]
			fs := []Field{m.Field}
			if m.Op == OpIn {
				if s := c.Set(m.Set); s != nil {
					fs = s.Key
				}
			}
			for _, f := range fs {
				if xt && TransportField(f) {
					continue
				}
				if !headerPresent(f, pp) {
					return false, false
				}
			}
		}
	}
	view := pp
	if xt {
		view = xtl4View(pp)
	}
	for i := range r.Matches {
		m := &r.Matches[i]
		if k, ok := XTL4KindOf(m); ok {
			holds, hot := XTL4Outcome(k, pp)
			if hot {
				return false, true
			}
			if !holds {
				return false, false
			}
			continue
		}
		if TCPOptionHotDrop(m, view) {
			return false, true
		}
		if !MatchHolds(c, m, p, view) {
			return false, false
		}
	}
	return true, false
}

func canHotDrop(r *Rule) bool {
	for i := range r.Matches {
		if f := r.Matches[i].Field; f == TCPOption || f == XTL4 {
			return true
		}
	}
	return false
}

// headerPresent reports whether the packet carries the header field f
// is read from (the protocol guard of f).
func headerPresent(f Field, pp *Parsed) bool {
	fi := f.Info()
	switch f {
	case MetaL4Proto:
		return pp.HasL4Proto
	case MetaFlowProbability:
		return pp.L3 != nil && pp.HasL4Proto && pp.L4 != nil && (pp.L4Proto == ProtoTCP || pp.L4Proto == ProtoUDP)
	}
	if fi.Layer == LayerL3 && fi.L3 != 0 && (pp.L3 == nil || pp.L3Proto != fi.L3) {
		return false
	}
	if len(fi.L4) > 0 && (!pp.HasL4Proto || pp.L4 == nil || !containsU8(fi.L4, pp.L4Proto)) {
		return false
	}
	return true
}

// TCPOptionHotDrop reports whether m is a tcp.option match that drops
// the packet: a TCP header (present) with a data offset below 5 or
// options past the end of the packet.
func TCPOptionHotDrop(m *Match, pp *Parsed) bool {
	if m.Field != TCPOption || m.Op != OpEq || !pp.HasL4Proto || pp.L4Proto != ProtoTCP || pp.L4 == nil {
		return false
	}
	_, ok := TCPOptionPresent(pp.L4, 0)
	return !ok
}

// TCPOptionPresent walks the options of the TCP header at the start of
// l4 as the kernel's tcp_find_option does: kinds 0 and 1 take one byte,
// others their length byte (a length of 0 counts as 1); the walk does not
// stop at an end-of-options kind. ok is false when the kernel drops the
// packet instead (data offset below 5, options beyond the packet).
func TCPOptionPresent(l4 []byte, kind uint8) (found, ok bool) {
	if len(l4) < 20 {
		return false, false
	}
	hlen := int(l4[12]>>4) * 4
	if hlen < 20 || len(l4) < hlen {
		return false, false
	}
	op := l4[20:hlen]
	for i := 0; i < len(op); {
		if op[i] == kind {
			return true, true
		}
		if op[i] < 2 || i+1 >= len(op) {
			// Past the last byte the step no longer matters: the
			// walk ends whatever it reads there.
			i++
			continue
		}
		step := int(op[i+1])
		if step == 0 {
			step = 1
		}
		i += step
	}
	return false, true
}
