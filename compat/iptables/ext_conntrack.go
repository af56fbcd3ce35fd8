package iptables

import (
	"fmt"
	"strings"

	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
	"github.com/bpfilter-go/bpfilter/frontends/iptables/xt"
)

var ctStateNames = []struct {
	name string
	bit  uint16
}{
	{"INVALID", xt.CTStateInvalid}, {"NEW", xt.CTStateNew}, {"RELATED", xt.CTStateRelated},
	{"ESTABLISHED", xt.CTStateEstablished}, {"UNTRACKED", xt.CTStateUntracked},
	{"SNAT", xt.CTStateSNAT}, {"DNAT", xt.CTStateDNAT},
}

var ctStatusNames = []struct {
	name string
	bit  uint16
}{
	{"EXPECTED", xt.CTStatusExpected}, {"SEEN_REPLY", xt.CTStatusSeenReply},
	{"ASSURED", xt.CTStatusAssured}, {"CONFIRMED", xt.CTStatusConfirmed},
}

func parseCTStates(s string, alias bool) (uint16, error) {
	var m uint16
	for _, n := range strings.Split(s, ",") {
		found := false
		for _, st := range ctStateNames {
			if alias && (st.name == "SNAT" || st.name == "DNAT") {
				continue
			}
			if strings.EqualFold(st.name, n) {
				m |= st.bit
				found = true
			}
		}
		if !found {
			if alias {
				return 0, paramErr("Bad state \"%s\"", n)
			}
			return 0, paramErr("Bad ctstate \"%s\"", n)
		}
	}
	return m, nil
}

func writeCTStates(w *strings.Builder, m uint16) {
	sep := " "
	for _, st := range ctStateNames {
		if m&st.bit != 0 {
			w.WriteString(sep + st.name)
			sep = ","
		}
	}
}

func writeCTStatus(w *strings.Builder, m uint16) {
	sep := " "
	for _, st := range ctStatusNames {
		if m&st.bit != 0 {
			w.WriteString(sep + st.name)
			sep = ","
		}
	}
	if m == 0 {
		w.WriteString(sep + "NONE")
	}
}

type ctAddrOpt struct {
	opt  string
	flag uint16
	addr func(c *xt.Conntrack) (*[16]byte, *[16]byte)
}

var ctAddrOpts = []ctAddrOpt{
	{"ctorigsrc", xt.CTOrigSrc, func(c *xt.Conntrack) (*[16]byte, *[16]byte) { return &c.OrigSrcAddr, &c.OrigSrcMask }},
	{"ctorigdst", xt.CTOrigDst, func(c *xt.Conntrack) (*[16]byte, *[16]byte) { return &c.OrigDstAddr, &c.OrigDstMask }},
	{"ctreplsrc", xt.CTReplSrc, func(c *xt.Conntrack) (*[16]byte, *[16]byte) { return &c.ReplSrcAddr, &c.ReplSrcMask }},
	{"ctrepldst", xt.CTReplDst, func(c *xt.Conntrack) (*[16]byte, *[16]byte) { return &c.ReplDstAddr, &c.ReplDstMask }},
}

type ctPortOpt struct {
	opt  string
	flag uint16
	port func(c *xt.Conntrack) (*uint16, *uint16)
}

var ctPortOpts = []ctPortOpt{
	{"ctorigsrcport", xt.CTOrigSrcPort, func(c *xt.Conntrack) (*uint16, *uint16) { return &c.OrigSrcPort, &c.OrigSrcPortHigh }},
	{"ctorigdstport", xt.CTOrigDstPort, func(c *xt.Conntrack) (*uint16, *uint16) { return &c.OrigDstPort, &c.OrigDstPortHigh }},
	{"ctreplsrcport", xt.CTReplSrcPort, func(c *xt.Conntrack) (*uint16, *uint16) { return &c.ReplSrcPort, &c.ReplSrcPortHigh }},
	{"ctrepldstport", xt.CTReplDstPort, func(c *xt.Conntrack) (*uint16, *uint16) { return &c.ReplDstPort, &c.ReplDstPortHigh }},
}

func ctParse(c *parseCtx, info xt.Info, opt, arg string, inv bool, seen map[string]bool) error {
	ct := info.(*xt.Conntrack)
	var flag uint16
	switch opt {
	case "ctstate":
		m, err := parseCTStates(arg, false)
		if err != nil {
			return err
		}
		ct.StateMask, flag = m, xt.CTState
	case "ctproto":
		p, ok := parseProto(arg)
		if !ok {
			return paramErr("unknown protocol \"%s\" specified", arg)
		}
		ct.L4Proto, flag = p, xt.CTProto
	case "ctstatus":
		var m uint16
		for _, n := range strings.Split(arg, ",") {
			found := strings.EqualFold(n, "NONE")
			for _, st := range ctStatusNames {
				if strings.EqualFold(st.name, n) {
					m |= st.bit
					found = true
				}
			}
			if !found {
				return paramErr("Bad ctstatus \"%s\"", n)
			}
		}
		ct.StatusMask, flag = m, xt.CTStatus
	case "ctexpire":
		min, max, err := ctParseExpire(arg) // ext_conntrack_parse.go
		if err != nil {
			return err
		}
		ct.ExpiresMin, ct.ExpiresMax, flag = min, max, xt.CTExpires
	case "ctdir":
		switch strings.ToUpper(arg) {
		case "ORIGINAL":
			ct.InvertFlags &^= xt.CTDirection
		case "REPLY":
			ct.InvertFlags |= xt.CTDirection
		default:
			return paramErr("Bad ctdir \"%s\"", arg)
		}
		ct.MatchFlags |= xt.CTDirection
		return nil
	default:
		for _, a := range ctAddrOpts {
			if a.opt != opt {
				continue
			}
			// ext_conntrack_parse.go: the address unmasked, the mask
			// over the whole union nf_inet_addr.
			addr, mask, err := ctParseAddr(c.fam, opt, arg)
			if err != nil {
				return err
			}
			ap, mp := a.addr(ct)
			*ap, *mp = addr, mask
			flag = a.flag
		}
		for _, p := range ctPortOpts {
			if p.opt != opt {
				continue
			}
			// Revision 3 keeps port ranges in host order
			// (ext_conntrack_parse.go).
			l, h, err := ctParsePorts(opt, arg)
			if err != nil {
				return err
			}
			lo, hi := p.port(ct)
			*lo, *hi = l, h
			flag = p.flag
		}
	}
	ct.MatchFlags |= flag
	if inv {
		ct.InvertFlags |= flag
	}
	return nil
}

func ctDump(w *strings.Builder, fam abi.Family, ct *xt.Conntrack, prefix string, numeric bool) {
	inv := func(f uint16) {
		if ct.InvertFlags&f != 0 {
			w.WriteString(" !")
		}
	}
	if ct.MatchFlags&xt.CTState != 0 {
		inv(xt.CTState)
		name := "ctstate"
		if ct.MatchFlags&xt.CTStateAlias != 0 {
			name = "state"
		}
		fmt.Fprintf(w, " %s%s", prefix, name)
		writeCTStates(w, ct.StateMask)
	}
	if ct.MatchFlags&xt.CTProto != 0 {
		inv(xt.CTProto)
		fmt.Fprintf(w, " %sctproto %d", prefix, ct.L4Proto)
	}
	for _, a := range ctAddrOpts {
		if ct.MatchFlags&a.flag == 0 {
			continue
		}
		inv(a.flag)
		fmt.Fprintf(w, " %s%s", prefix, a.opt)
		ap, mp := a.addr(ct)
		addr, mask := bytesAddr(fam, *ap), bytesAddr(fam, *mp)
		if !numeric && isZero(addr.AsSlice()) {
			w.WriteString(" anywhere")
			continue
		}
		fmt.Fprintf(w, " %s%s", addr, listMask(mask))
	}
	for _, p := range ctPortOpts {
		if ct.MatchFlags&p.flag == 0 {
			continue
		}
		inv(p.flag)
		fmt.Fprintf(w, " %s%s ", prefix, p.opt)
		lo, hi := p.port(ct)
		if *hi == 0 || *lo == *hi { // conntrack_dump_ports
			fmt.Fprintf(w, "%d", *lo)
		} else {
			fmt.Fprintf(w, "%d:%d", *lo, *hi)
		}
	}
	if ct.MatchFlags&xt.CTStatus != 0 {
		inv(xt.CTStatus)
		fmt.Fprintf(w, " %sctstatus", prefix)
		writeCTStatus(w, ct.StatusMask)
	}
	if ct.MatchFlags&xt.CTExpires != 0 {
		inv(xt.CTExpires)
		fmt.Fprintf(w, " %sctexpire ", prefix)
		if ct.ExpiresMin == ct.ExpiresMax {
			fmt.Fprintf(w, "%d", ct.ExpiresMin)
		} else {
			fmt.Fprintf(w, "%d:%d", ct.ExpiresMin, ct.ExpiresMax)
		}
	}
	if ct.MatchFlags&xt.CTDirection != 0 {
		if ct.InvertFlags&xt.CTDirection != 0 {
			fmt.Fprintf(w, " %sctdir REPLY", prefix)
		} else {
			fmt.Fprintf(w, " %sctdir ORIGINAL", prefix)
		}
	}
}

// listMask is xtables_ipmask_to_numeric: "" for a full mask, "/len" for a
// contiguous one, "/mask" otherwise.
func listMask(m interface{ AsSlice() []byte }) string {
	b := m.AsSlice()
	n, ok := maskLenBytes(b)
	switch {
	case ok && n == len(b)*8:
		return ""
	case ok:
		return fmt.Sprintf("/%d", n)
	}
	a := bytesAddr(abi.IPv4, [16]byte(append(b, make([]byte, 16-len(b))...)))
	if len(b) == 16 {
		a = bytesAddr(abi.IPv6, [16]byte(b))
	}
	return "/" + a.String()
}

func init() {
	var ctOpts []extOpt
	for _, n := range []string{"ctstate", "ctproto", "ctorigsrc", "ctorigdst", "ctreplsrc", "ctrepldst", "ctstatus",
		"ctexpire", "ctorigsrcport", "ctorigdstport", "ctreplsrcport", "ctrepldstport"} {
		ctOpts = append(ctOpts, extOpt{n, needArg, true})
	}
	ctOpts = append(ctOpts, extOpt{"ctdir", needArg, false})
	registerExt(&ext{
		name: "conntrack", kind: xt.Match, rev: 3, alias: "state",
		opts: []extOpt{{"state", needArg, true}},
		init: func(abi.Family) xt.Info { return &xt.Conntrack{} },
		parse: func(c *parseCtx, info xt.Info, opt, arg string, inv bool, seen map[string]bool) error {
			ct := info.(*xt.Conntrack)
			m, err := parseCTStates(arg, true)
			if err != nil {
				return err
			}
			ct.StateMask = m
			ct.MatchFlags = xt.CTState | xt.CTStateAlias
			if inv {
				ct.InvertFlags |= xt.CTState
			}
			return nil
		},
		final: func(c *parseCtx, info xt.Info, seen map[string]bool) error {
			if !seen["state"] {
				return paramErr("state match: option \"--state\" must be specified")
			}
			return nil
		},
		save: func(w *strings.Builder, fam abi.Family, ip *abi.IPHeader, info xt.Info) {
			ctDump(w, fam, info.(*xt.Conntrack), "--", true)
		},
		print: func(w *strings.Builder, fam abi.Family, ip *abi.IPHeader, info xt.Info, numeric bool) {
			ctDump(w, fam, info.(*xt.Conntrack), "", numeric)
		},
	})
	registerExt(&ext{
		name: "conntrack", kind: xt.Match, rev: 3,
		opts:  ctOpts,
		init:  func(abi.Family) xt.Info { return &xt.Conntrack{} },
		parse: ctParse,
		final: func(c *parseCtx, info xt.Info, seen map[string]bool) error {
			if len(seen) == 0 {
				return paramErr("conntrack: At least one option is required")
			}
			return nil
		},
		save: func(w *strings.Builder, fam abi.Family, ip *abi.IPHeader, info xt.Info) {
			ctDump(w, fam, info.(*xt.Conntrack), "--", true)
		},
		print: func(w *strings.Builder, fam abi.Family, ip *abi.IPHeader, info xt.Info, numeric bool) {
			ctDump(w, fam, info.(*xt.Conntrack), "", numeric)
		},
	})
	registerExt(&ext{
		name: "state", kind: xt.Match, decodeOnly: true,
		save: func(w *strings.Builder, fam abi.Family, ip *abi.IPHeader, info xt.Info) {
			w.WriteString(" --state")
			writeCTStates(w, uint16(info.(*xt.State).StateMask))
		},
		print: func(w *strings.Builder, fam abi.Family, ip *abi.IPHeader, info xt.Info, numeric bool) {
			w.WriteString(" state")
			writeCTStates(w, uint16(info.(*xt.State).StateMask))
		},
	})
}

// Older conntrack revisions (1 and 2) are decoded and listed, never built:
// iptables 1.8.9 writes revision 3.
func init() {
	for _, rev := range []uint8{1, 2} {
		save := func(w *strings.Builder, fam abi.Family, ip *abi.IPHeader, info xt.Info) {
			ctDump(w, fam, info.(*xt.ConntrackOld).AsV3(), "--", true)
		}
		print := func(w *strings.Builder, fam abi.Family, ip *abi.IPHeader, info xt.Info, numeric bool) {
			ctDump(w, fam, info.(*xt.ConntrackOld).AsV3(), "", numeric)
		}
		registerExt(&ext{name: "conntrack", kind: xt.Match, rev: rev, alias: "state", decodeOnly: true, save: save, print: print})
		registerExt(&ext{name: "conntrack", kind: xt.Match, rev: rev, decodeOnly: true, save: save, print: print})
	}
}
