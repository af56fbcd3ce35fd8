package iptables

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
	"github.com/bpfilter-go/bpfilter/frontends/iptables/xt"
)

func multiportProto(ip *abi.IPHeader) string {
	if ip.InvFlags&abi.InvProto != 0 {
		return ""
	}
	return protoLabel(ip.Proto)
}

func addrBytes(a netip.Addr) [16]byte {
	var b [16]byte
	copy(b[:], a.AsSlice())
	return b
}

func bytesAddr(fam abi.Family, b [16]byte) netip.Addr {
	if fam == abi.IPv6 {
		return netip.AddrFrom16(b)
	}
	return netip.AddrFrom4([4]byte(b[:4]))
}

func parseRange(fam abi.Family, s string) ([16]byte, [16]byte, error) {
	lo, hi, isRange := strings.Cut(s, "-")
	if !isRange {
		hi = lo
	}
	a, err1 := netip.ParseAddr(lo)
	b, err2 := netip.ParseAddr(hi)
	if err1 != nil || err2 != nil || a.Is4() != (fam == abi.IPv4) || b.Is4() != (fam == abi.IPv4) {
		return [16]byte{}, [16]byte{}, paramErr("iprange: Bad address range \"%s\"", s)
	}
	return addrBytes(a), addrBytes(b), nil
}

func init() {
	registerExt(&ext{
		name: "multiport", kind: xt.Match, rev: 1,
		opts: []extOpt{{"source-ports", needArg, true}, {"sports", needArg, true}, {"destination-ports", needArg, true},
			{"dports", needArg, true}, {"ports", needArg, true}},
		init: func(abi.Family) xt.Info { return &xt.Multiport{} },
		parse: func(c *parseCtx, info xt.Info, opt, arg string, inv bool, seen map[string]bool) error {
			m := info.(*xt.Multiport)
			if len(seen) > 1 {
				return paramErr("multiport can only have one option")
			}
			switch opt {
			case "source-ports", "sports":
				m.Flags = xt.MultiportSource
			case "destination-ports", "dports":
				m.Flags = xt.MultiportDestination
			default:
				m.Flags = xt.MultiportEither
			}
			proto := multiportProto(c.ip)
			if proto == "" {
				return paramErr("multiport needs `-p tcp', `-p udp', `-p udplite', `-p sctp' or `-p dccp'")
			}
			n := 0
			for _, item := range strings.Split(arg, ",") {
				lo, hi, isRange := strings.Cut(item, ":")
				if n >= xt.MultiPorts || (isRange && n+1 >= xt.MultiPorts) {
					return paramErr("too many ports specified")
				}
				p, err := parsePort(lo, proto)
				if err != nil {
					return err
				}
				m.Ports[n] = p
				if isRange {
					m.PFlags[n] = 1
					q, err := parsePort(hi, proto)
					if err != nil {
						return err
					}
					if q < p {
						return paramErr("invalid portrange specified")
					}
					n++
					m.Ports[n] = q
				}
				n++
			}
			m.Count = uint8(n)
			if inv {
				m.Invert = 1
			}
			return nil
		},
		final: func(c *parseCtx, info xt.Info, seen map[string]bool) error {
			if len(seen) == 0 {
				return paramErr("multiport expects an option")
			}
			return nil
		},
		save: func(w *strings.Builder, fam abi.Family, ip *abi.IPHeader, info xt.Info) {
			m := info.(*xt.Multiport)
			if m.Invert != 0 {
				w.WriteString(" !")
			}
			switch m.Flags {
			case xt.MultiportSource:
				w.WriteString(" --sports ")
			case xt.MultiportDestination:
				w.WriteString(" --dports ")
			case xt.MultiportEither:
				w.WriteString(" --ports ")
			}
			writeMultiports(w, m, multiportProto(ip), true)
		},
		print: func(w *strings.Builder, fam abi.Family, ip *abi.IPHeader, info xt.Info, numeric bool) {
			m := info.(*xt.Multiport)
			w.WriteString(" multiport")
			switch m.Flags {
			case xt.MultiportSource:
				w.WriteString(" sports")
			case xt.MultiportDestination:
				w.WriteString(" dports")
			case xt.MultiportEither:
				w.WriteString(" ports")
			default:
				w.WriteString(" ERROR")
			}
			if m.Invert != 0 {
				w.WriteString("  !")
			} else {
				w.WriteString(" ")
			}
			writeMultiports(w, m, multiportProto(ip), numeric)
		},
		kernelCheck: func(fam abi.Family, ip *abi.IPHeader, info xt.Info, hook int) error {
			m := info.(*xt.Multiport)
			if multiportProto(ip) == "" {
				return fmt.Errorf("multiport needs a tcp, udp, udplite, sctp or dccp protocol")
			}
			if m.Flags > xt.MultiportEither || m.Count > xt.MultiPorts {
				return fmt.Errorf("multiport: bad flags or count")
			}
			return nil
		},
	})
	registerExt(&ext{
		name: "iprange", kind: xt.Match, rev: 1,
		opts: []extOpt{{"src-range", needArg, true}, {"dst-range", needArg, true}},
		init: func(abi.Family) xt.Info { return &xt.IPRange{} },
		parse: func(c *parseCtx, info xt.Info, opt, arg string, inv bool, seen map[string]bool) error {
			r := info.(*xt.IPRange)
			lo, hi, err := parseRange(c.fam, arg)
			if err != nil {
				return err
			}
			if opt == "src-range" {
				r.SrcMin, r.SrcMax = lo, hi
				r.Flags |= xt.IPRangeSrc
				if inv {
					r.Flags |= xt.IPRangeSrcInv
				}
			} else {
				r.DstMin, r.DstMax = lo, hi
				r.Flags |= xt.IPRangeDst
				if inv {
					r.Flags |= xt.IPRangeDstInv
				}
			}
			return nil
		},
		final: func(c *parseCtx, info xt.Info, seen map[string]bool) error {
			if len(seen) == 0 {
				return paramErr("iprange match: You must specify `--src-range' or `--dst-range'")
			}
			return nil
		},
		save: func(w *strings.Builder, fam abi.Family, ip *abi.IPHeader, info xt.Info) {
			r := info.(*xt.IPRange)
			if r.Flags&xt.IPRangeSrc != 0 {
				if r.Flags&xt.IPRangeSrcInv != 0 {
					w.WriteString(" !")
				}
				fmt.Fprintf(w, " --src-range %s-%s", bytesAddr(fam, r.SrcMin), bytesAddr(fam, r.SrcMax))
			}
			if r.Flags&xt.IPRangeDst != 0 {
				if r.Flags&xt.IPRangeDstInv != 0 {
					w.WriteString(" !")
				}
				fmt.Fprintf(w, " --dst-range %s-%s", bytesAddr(fam, r.DstMin), bytesAddr(fam, r.DstMax))
			}
		},
		print: func(w *strings.Builder, fam abi.Family, ip *abi.IPHeader, info xt.Info, numeric bool) {
			r := info.(*xt.IPRange)
			if r.Flags&xt.IPRangeSrc != 0 {
				w.WriteString(" source IP range")
				if r.Flags&xt.IPRangeSrcInv != 0 {
					w.WriteString(" !")
				}
				fmt.Fprintf(w, " %s-%s", bytesAddr(fam, r.SrcMin), bytesAddr(fam, r.SrcMax))
			}
			if r.Flags&xt.IPRangeDst != 0 {
				w.WriteString(" destination IP range")
				if r.Flags&xt.IPRangeDstInv != 0 {
					w.WriteString(" !")
				}
				fmt.Fprintf(w, " %s-%s", bytesAddr(fam, r.DstMin), bytesAddr(fam, r.DstMax))
			}
		},
	})
	registerExt(&ext{
		name: "comment", kind: xt.Match,
		opts: []extOpt{{"comment", needArg, false}},
		init: func(abi.Family) xt.Info { return &xt.Comment{} },
		parse: func(c *parseCtx, info xt.Info, opt, arg string, inv bool, seen map[string]bool) error {
			if len(arg) > xt.CommentLen-1 {
				return paramErr("comment: option \"--comment\" must be less than %d characters", xt.CommentLen)
			}
			info.(*xt.Comment).Text = arg
			return nil
		},
		final: func(c *parseCtx, info xt.Info, seen map[string]bool) error {
			if !seen["comment"] {
				return paramErr("comment: option \"--comment\" must be specified")
			}
			return nil
		},
		save: func(w *strings.Builder, fam abi.Family, ip *abi.IPHeader, info xt.Info) {
			w.WriteString(" --comment")
			saveString(w, info.(*xt.Comment).Text)
		},
		print: func(w *strings.Builder, fam abi.Family, ip *abi.IPHeader, info xt.Info, numeric bool) {
			fmt.Fprintf(w, " /* %s */", info.(*xt.Comment).Text)
		},
	})
	registerExt(&ext{
		name: "mark", kind: xt.Match, rev: 1,
		opts: []extOpt{{"mark", needArg, true}},
		init: func(abi.Family) xt.Info { return &xt.MarkMatch{} },
		parse: func(c *parseCtx, info xt.Info, opt, arg string, inv bool, seen map[string]bool) error {
			v, m, ok := parseValueMask(arg)
			if !ok {
				return paramErr("mark: Bad value for \"--mark\" option: \"%s\"", arg)
			}
			mm := info.(*xt.MarkMatch)
			mm.Mark, mm.Mask = v, m
			if inv {
				mm.Invert = 1
			}
			return nil
		},
		final: func(c *parseCtx, info xt.Info, seen map[string]bool) error {
			if !seen["mark"] {
				return paramErr("mark: option \"--mark\" must be specified")
			}
			return nil
		},
		save: func(w *strings.Builder, fam abi.Family, ip *abi.IPHeader, info xt.Info) {
			m := info.(*xt.MarkMatch)
			if m.Invert != 0 {
				w.WriteString(" !")
			}
			w.WriteString(" --mark")
			writeMark(w, m.Mark, m.Mask)
		},
		print: func(w *strings.Builder, fam abi.Family, ip *abi.IPHeader, info xt.Info, numeric bool) {
			m := info.(*xt.MarkMatch)
			w.WriteString(" mark match")
			if m.Invert != 0 {
				w.WriteString(" !")
			}
			writeMark(w, m.Mark, m.Mask)
		},
	})
	registerExt(&ext{
		name: "length", kind: xt.Match,
		opts: []extOpt{{"length", needArg, true}},
		init: func(abi.Family) xt.Info { return &xt.Length{} },
		parse: func(c *parseCtx, info xt.Info, opt, arg string, inv bool, seen map[string]bool) error {
			l := info.(*xt.Length)
			lo, hi, isRange := strings.Cut(arg, ":")
			min, max := uint64(0), uint64(0xffff)
			var ok bool
			if lo != "" || !isRange {
				if min, ok = parseUint(lo, 0xffff); !ok {
					return paramErr("length: Bad value for \"--length\" option: \"%s\"", arg)
				}
			}
			if !isRange {
				max = min
			} else if hi != "" {
				if max, ok = parseUint(hi, 0xffff); !ok {
					return paramErr("length: Bad value for \"--length\" option: \"%s\"", arg)
				}
			}
			l.Min, l.Max = uint16(min), uint16(max)
			if inv {
				l.Invert = 1
			}
			return nil
		},
		final: func(c *parseCtx, info xt.Info, seen map[string]bool) error {
			if !seen["length"] {
				return paramErr("length: option \"--length\" must be specified")
			}
			return nil
		},
		save: func(w *strings.Builder, fam abi.Family, ip *abi.IPHeader, info xt.Info) {
			l := info.(*xt.Length)
			if l.Invert != 0 {
				w.WriteString(" !")
			}
			if l.Min == l.Max {
				fmt.Fprintf(w, " --length %d", l.Min)
			} else {
				fmt.Fprintf(w, " --length %d:%d", l.Min, l.Max)
			}
		},
		print: func(w *strings.Builder, fam abi.Family, ip *abi.IPHeader, info xt.Info, numeric bool) {
			l := info.(*xt.Length)
			w.WriteString(" length ")
			if l.Invert != 0 {
				w.WriteString("!")
			}
			if l.Min == l.Max {
				fmt.Fprintf(w, "%d", l.Min)
			} else {
				fmt.Fprintf(w, "%d:%d", l.Min, l.Max)
			}
		},
	})
}

func writeMark(w *strings.Builder, mark, mask uint32) {
	if mask != 0xffffffff {
		fmt.Fprintf(w, " 0x%x/0x%x", mark, mask)
	} else {
		fmt.Fprintf(w, " 0x%x", mark)
	}
}

func writeMultiports(w *strings.Builder, m *xt.Multiport, proto string, numeric bool) {
	for i := 0; i < int(m.Count) && i < xt.MultiPorts; i++ {
		if i > 0 {
			w.WriteString(",")
		}
		w.WriteString(portName(m.Ports[i], proto, numeric))
		if m.PFlags[i] != 0 && i+1 < xt.MultiPorts {
			i++
			w.WriteString(":" + portName(m.Ports[i], proto, numeric))
		}
	}
}
