package iptables

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
	"github.com/bpfilter-go/bpfilter/frontends/iptables/xt"
)

var limitRates = []struct {
	name string
	mult uint32
}{
	{"day", xt.LimitScale * 24 * 60 * 60}, {"hour", xt.LimitScale * 60 * 60}, {"min", xt.LimitScale * 60}, {"sec", xt.LimitScale},
}

func parseRate(s string) (uint32, error) {
	mult := uint64(1)
	num := s
	if i := strings.IndexByte(s, '/'); i >= 0 {
		unit := strings.ToLower(s[i+1:])
		num = s[:i]
		switch {
		case unit == "":
			return 0, paramErr("bad rate \"%s\"'", s)
		case strings.HasPrefix("second", unit):
			mult = 1
		case strings.HasPrefix("minute", unit):
			mult = 60
		case strings.HasPrefix("hour", unit):
			mult = 3600
		case strings.HasPrefix("day", unit):
			mult = 86400
		default:
			return 0, paramErr("bad rate \"%s\"'", s)
		}
	}
	// atoi semantics: leading digits.
	j := 0
	for j < len(num) && num[j] >= '0' && num[j] <= '9' {
		j++
	}
	r, _ := strconv.ParseUint(num[:j], 10, 32)
	if r == 0 {
		return 0, paramErr("bad rate \"%s\"'", s)
	}
	v := xt.LimitScale * mult / r
	if v == 0 {
		return 0, paramErr("Rate too fast \"%s\"", s)
	}
	return uint32(v), nil
}

func writeRate(w *strings.Builder, period uint32) {
	if period == 0 {
		fmt.Fprintf(w, " %f", math.Inf(1))
		return
	}
	i := 1
	for ; i < len(limitRates); i++ {
		m := limitRates[i].mult
		if period > m || m/period < m%period {
			break
		}
	}
	fmt.Fprintf(w, " %d/%s", limitRates[i-1].mult/period, limitRates[i-1].name)
}

func parseAddrTypes(s string) (uint16, error) {
	var m uint16
	for _, n := range strings.Split(s, ",") {
		found := false
		for i, name := range xt.AddrtypeNames {
			if strings.EqualFold(name, n) {
				m |= 1 << i
				found = true
			}
		}
		if !found {
			return 0, paramErr("addrtype: invalid address type \"%s\"", n)
		}
	}
	return m, nil
}

func writeAddrTypes(w *strings.Builder, m uint16) {
	sep := ""
	for i, name := range xt.AddrtypeNames {
		if m&(1<<i) != 0 {
			w.WriteString(sep + name)
			sep = ","
		}
	}
}

var pktTypes = []struct {
	name string
	typ  int32
}{
	{"unicast", 0}, {"broadcast", 1}, {"multicast", 2}, {"host", 0}, {"otherhost", 3}, {"outgoing", 4},
	{"loopback", 5}, {"fastroute", 6},
}

func pktTypeName(t int32) string {
	for _, p := range pktTypes {
		if p.typ == t {
			return p.name
		}
	}
	return strconv.Itoa(int(t))
}

func ttlExt(name, label string, family xt.Family) *ext {
	eq, lt, gt := name+"-eq", name+"-lt", name+"-gt"
	return &ext{
		name: name, kind: xt.Match, family: family,
		opts: []extOpt{{eq, needArg, true}, {lt, needArg, false}, {gt, needArg, false}},
		init: func(abi.Family) xt.Info { return &xt.TTL{} },
		parse: func(c *parseCtx, info xt.Info, opt, arg string, inv bool, seen map[string]bool) error {
			if len(seen) > 1 {
				return paramErr("%s: Can't specify %s option twice", name, label)
			}
			v, ok := parseUint(arg, 255)
			if !ok {
				return paramErr("%s: Bad value for \"--%s\" option: \"%s\"", name, opt, arg)
			}
			t := info.(*xt.TTL)
			t.Value = uint8(v)
			switch opt {
			case eq:
				t.Mode = xt.TTLEq
				if inv {
					t.Mode = xt.TTLNe
				}
			case lt:
				t.Mode = xt.TTLLt
			case gt:
				t.Mode = xt.TTLGt
			}
			return nil
		},
		final: func(c *parseCtx, info xt.Info, seen map[string]bool) error {
			if len(seen) == 0 {
				return paramErr("%s: One of the options --%s, --%s or --%s is required", name, eq, lt, gt)
			}
			return nil
		},
		save: func(w *strings.Builder, fam abi.Family, ip *abi.IPHeader, info xt.Info) {
			t := info.(*xt.TTL)
			ops := map[uint8]string{xt.TTLEq: "--" + eq, xt.TTLNe: "! --" + eq, xt.TTLLt: "--" + lt, xt.TTLGt: "--" + gt}
			fmt.Fprintf(w, " %s %d", ops[t.Mode], t.Value)
		},
		print: func(w *strings.Builder, fam abi.Family, ip *abi.IPHeader, info xt.Info, numeric bool) {
			t := info.(*xt.TTL)
			ops := map[uint8]string{xt.TTLEq: "==", xt.TTLNe: "!=", xt.TTLLt: "<", xt.TTLGt: ">"}
			fmt.Fprintf(w, " %s match %s %s %d", label, label, ops[t.Mode], t.Value)
		},
		kernelCheck: func(fam abi.Family, ip *abi.IPHeader, info xt.Info, hook int) error {
			if info.(*xt.TTL).Mode > xt.TTLGt {
				return fmt.Errorf("%s: unknown mode", name)
			}
			return nil
		},
	}
}

func init() {
	registerExt(&ext{
		name: "limit", kind: xt.Match,
		opts: []extOpt{{"limit", needArg, false}, {"limit-burst", needArg, false}},
		init: func(abi.Family) xt.Info { return &xt.Limit{Avg: xt.LimitScale * 3600 / 3, Burst: 5} },
		parse: func(c *parseCtx, info xt.Info, opt, arg string, inv bool, seen map[string]bool) error {
			l := info.(*xt.Limit)
			if opt == "limit" {
				v, err := parseRate(arg)
				if err != nil {
					return err
				}
				l.Avg = v
				return nil
			}
			v, ok := parseUint(arg, 10000)
			if !ok {
				return paramErr("limit: bad value for option \"--limit-burst\", or out of range (0-10000).")
			}
			l.Burst = uint32(v)
			return nil
		},
		save: func(w *strings.Builder, fam abi.Family, ip *abi.IPHeader, info xt.Info) {
			l := info.(*xt.Limit)
			w.WriteString(" --limit")
			writeRate(w, l.Avg)
			if l.Burst != 5 {
				fmt.Fprintf(w, " --limit-burst %d", l.Burst)
			}
		},
		print: func(w *strings.Builder, fam abi.Family, ip *abi.IPHeader, info xt.Info, numeric bool) {
			l := info.(*xt.Limit)
			w.WriteString(" limit: avg")
			writeRate(w, l.Avg)
			fmt.Fprintf(w, " burst %d", l.Burst)
		},
		kernelCheck: limitKernelCheck, // ext_limit.go
	})
	registerExt(&ext{
		name: "addrtype", kind: xt.Match, rev: 1,
		opts: []extOpt{{"src-type", needArg, true}, {"dst-type", needArg, true}, {"limit-iface-in", noArg, false}, {"limit-iface-out", noArg, false}},
		init: func(abi.Family) xt.Info { return &xt.Addrtype{} },
		parse: func(c *parseCtx, info xt.Info, opt, arg string, inv bool, seen map[string]bool) error {
			a := info.(*xt.Addrtype)
			switch opt {
			case "src-type", "dst-type":
				m, err := parseAddrTypes(arg)
				if err != nil {
					return err
				}
				if opt == "src-type" {
					a.Source = m
					if inv {
						a.Flags |= xt.AddrtypeInvertSource
					}
				} else {
					a.Dest = m
					if inv {
						a.Flags |= xt.AddrtypeInvertDest
					}
				}
			case "limit-iface-in":
				a.Flags |= xt.AddrtypeLimitIfaceIn
			case "limit-iface-out":
				a.Flags |= xt.AddrtypeLimitIfaceOut
			}
			return nil
		},
		final: func(c *parseCtx, info xt.Info, seen map[string]bool) error {
			a := info.(*xt.Addrtype)
			if !seen["src-type"] && !seen["dst-type"] {
				return paramErr("addrtype: you must specify --src-type or --dst-type")
			}
			if a.Flags&xt.AddrtypeLimitIfaceIn != 0 && a.Flags&xt.AddrtypeLimitIfaceOut != 0 {
				return paramErr("addrtype: you can't specify both --limit-iface-in and --limit-iface-out")
			}
			return nil
		},
		save: func(w *strings.Builder, fam abi.Family, ip *abi.IPHeader, info xt.Info) {
			a := info.(*xt.Addrtype)
			if a.Source != 0 {
				if a.Flags&xt.AddrtypeInvertSource != 0 {
					w.WriteString(" !")
				}
				w.WriteString(" --src-type ")
				writeAddrTypes(w, a.Source)
			}
			if a.Dest != 0 {
				if a.Flags&xt.AddrtypeInvertDest != 0 {
					w.WriteString(" !")
				}
				w.WriteString(" --dst-type ")
				writeAddrTypes(w, a.Dest)
			}
			if a.Flags&xt.AddrtypeLimitIfaceIn != 0 {
				w.WriteString(" --limit-iface-in")
			}
			if a.Flags&xt.AddrtypeLimitIfaceOut != 0 {
				w.WriteString(" --limit-iface-out")
			}
		},
		print: func(w *strings.Builder, fam abi.Family, ip *abi.IPHeader, info xt.Info, numeric bool) {
			a := info.(*xt.Addrtype)
			w.WriteString(" ADDRTYPE match")
			if a.Source != 0 {
				w.WriteString(" src-type ")
				if a.Flags&xt.AddrtypeInvertSource != 0 {
					w.WriteString("!")
				}
				writeAddrTypes(w, a.Source)
			}
			if a.Dest != 0 {
				w.WriteString(" dst-type ")
				if a.Flags&xt.AddrtypeInvertDest != 0 {
					w.WriteString("!")
				}
				writeAddrTypes(w, a.Dest)
			}
			if a.Flags&xt.AddrtypeLimitIfaceIn != 0 {
				w.WriteString(" limit-in")
			}
			if a.Flags&xt.AddrtypeLimitIfaceOut != 0 {
				w.WriteString(" limit-out")
			}
		},
		kernelCheck: func(fam abi.Family, ip *abi.IPHeader, info xt.Info, hook int) error {
			a := info.(*xt.Addrtype)
			if a.Flags&xt.AddrtypeLimitIfaceIn != 0 && (hook == abi.HookPostRouting || hook == abi.HookLocalOut) {
				return fmt.Errorf("addrtype: input interface limitation not valid in POSTROUTING and OUTPUT")
			}
			if a.Flags&xt.AddrtypeLimitIfaceOut != 0 && (hook == abi.HookPreRouting || hook == abi.HookLocalIn) {
				return fmt.Errorf("addrtype: output interface limitation not valid in PREROUTING and INPUT")
			}
			if fam == abi.IPv6 {
				// xt_addrtype's checkentry: BLACKHOLE, every type from
				// PROHIBIT on (PROHIBIT, THROW, NAT, XRESOLVE) and BROADCAST.
				m := a.Source | a.Dest
				switch {
				case m&(1<<6) != 0:
					return fmt.Errorf("addrtype: ipv6 BLACKHOLE matching not supported")
				case m >= 1<<8:
					return fmt.Errorf("addrtype: ipv6 PROHIBIT (THROW, NAT ..) matching not supported")
				case m&(1<<3) != 0:
					return fmt.Errorf("addrtype: ipv6 does not support BROADCAST matching")
				}
			}
			return nil
		},
	})
	registerExt(&ext{
		name: "mac", kind: xt.Match,
		opts: []extOpt{{"mac-source", needArg, true}},
		init: func(abi.Family) xt.Info { return &xt.MAC{} },
		parse: func(c *parseCtx, info xt.Info, opt, arg string, inv bool, seen map[string]bool) error {
			m := info.(*xt.MAC)
			parts := strings.Split(arg, ":")
			if len(parts) != 6 {
				return paramErr("Bad mac address \"%s\"", arg)
			}
			for i, p := range parts {
				v, err := strconv.ParseUint(p, 16, 8)
				if err != nil || len(p) == 0 || len(p) > 2 {
					return paramErr("Bad mac address \"%s\"", arg)
				}
				m.Addr[i] = byte(v)
			}
			if inv {
				m.Invert = 1
			}
			return nil
		},
		final: func(c *parseCtx, info xt.Info, seen map[string]bool) error {
			if !seen["mac-source"] {
				return paramErr("mac: option \"--mac-source\" must be specified")
			}
			return nil
		},
		save: func(w *strings.Builder, fam abi.Family, ip *abi.IPHeader, info xt.Info) {
			m := info.(*xt.MAC)
			if m.Invert != 0 {
				w.WriteString(" !")
			}
			w.WriteString(" --mac-source ")
			writeMAC(w, m.Addr)
		},
		print: func(w *strings.Builder, fam abi.Family, ip *abi.IPHeader, info xt.Info, numeric bool) {
			m := info.(*xt.MAC)
			w.WriteString(" MAC")
			if m.Invert != 0 {
				w.WriteString(" !")
			}
			w.WriteString(" ")
			writeMAC(w, m.Addr)
		},
		hooks: 1<<abi.HookPreRouting | 1<<abi.HookLocalIn | 1<<abi.HookForward,
	})
	registerExt(&ext{
		name: "pkttype", kind: xt.Match,
		opts: []extOpt{{"pkt-type", needArg, true}},
		init: func(abi.Family) xt.Info { return &xt.PktType{} },
		parse: func(c *parseCtx, info xt.Info, opt, arg string, inv bool, seen map[string]bool) error {
			p := info.(*xt.PktType)
			found := false
			for _, t := range pktTypes {
				if strings.EqualFold(t.name, arg) {
					p.PktType, found = t.typ, true
					break
				}
			}
			if !found {
				return paramErr("Bad packet type '%s'", arg)
			}
			if inv {
				p.Invert = 1
			}
			return nil
		},
		final: func(c *parseCtx, info xt.Info, seen map[string]bool) error {
			if !seen["pkt-type"] {
				return paramErr("pkttype: option \"--pkt-type\" must be specified")
			}
			return nil
		},
		save: func(w *strings.Builder, fam abi.Family, ip *abi.IPHeader, info xt.Info) {
			p := info.(*xt.PktType)
			if p.Invert != 0 {
				w.WriteString(" !")
			}
			fmt.Fprintf(w, " --pkt-type %s", pktTypeName(p.PktType))
		},
		print: func(w *strings.Builder, fam abi.Family, ip *abi.IPHeader, info xt.Info, numeric bool) {
			p := info.(*xt.PktType)
			inv := ""
			if p.Invert != 0 {
				inv = "!"
			}
			fmt.Fprintf(w, " PKTTYPE %s= %s", inv, pktTypeName(p.PktType))
		},
	})
	registerExt(ttlExt("ttl", "TTL", xt.IPv4))
	registerExt(ttlExt("hl", "HL", xt.IPv6))
}

func writeMAC(w *strings.Builder, a [6]byte) {
	for i, b := range a {
		if i > 0 {
			w.WriteString(":")
		}
		fmt.Fprintf(w, "%02X", b)
	}
}

// addrtypeV1 returns revision 0 addrtype data as revision 1.
func addrtypeV1(a *xt.AddrtypeV0) *xt.Addrtype {
	v := &xt.Addrtype{Source: a.Source, Dest: a.Dest}
	if a.InvertSource != 0 {
		v.Flags |= xt.AddrtypeInvertSource
	}
	if a.InvertDest != 0 {
		v.Flags |= xt.AddrtypeInvertDest
	}
	return v
}

// addrtype revision 0 is decoded and listed, never built.
func init() {
	v1 := findExtRev(xt.Match, "addrtype", 1)
	registerExt(&ext{
		name: "addrtype", kind: xt.Match, rev: 0, family: xt.IPv4, decodeOnly: true,
		save: func(w *strings.Builder, fam abi.Family, ip *abi.IPHeader, info xt.Info) {
			v1.save(w, fam, ip, addrtypeV1(info.(*xt.AddrtypeV0)))
		},
		print: func(w *strings.Builder, fam abi.Family, ip *abi.IPHeader, info xt.Info, numeric bool) {
			v1.print(w, fam, ip, addrtypeV1(info.(*xt.AddrtypeV0)), numeric)
		},
	})
}

func findExtRev(kind xt.Kind, name string, rev uint8) *ext {
	for _, e := range exts {
		if e.kind == kind && e.name == name && e.rev == rev {
			return e
		}
	}
	panic("iptables: extension " + name + " not registered")
}
