package iptables

import (
	"fmt"
	"strings"

	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
	"github.com/bpfilter-go/bpfilter/frontends/iptables/xt"
)

type icmpName struct {
	name          string
	typ, min, max uint8
}

var icmpNames = []icmpName{
	{"any", 0xff, 0, 0xff},
	{"echo-reply", 0, 0, 0xff},
	{"destination-unreachable", 3, 0, 0xff},
	{"network-unreachable", 3, 0, 0}, {"host-unreachable", 3, 1, 1}, {"protocol-unreachable", 3, 2, 2},
	{"port-unreachable", 3, 3, 3}, {"fragmentation-needed", 3, 4, 4}, {"source-route-failed", 3, 5, 5},
	{"network-unknown", 3, 6, 6}, {"host-unknown", 3, 7, 7}, {"network-prohibited", 3, 9, 9},
	{"host-prohibited", 3, 10, 10}, {"TOS-network-unreachable", 3, 11, 11}, {"TOS-host-unreachable", 3, 12, 12},
	{"communication-prohibited", 3, 13, 13}, {"host-precedence-violation", 3, 14, 14}, {"precedence-cutoff", 3, 15, 15},
	{"source-quench", 4, 0, 0xff},
	{"redirect", 5, 0, 0xff}, {"network-redirect", 5, 0, 0}, {"host-redirect", 5, 1, 1},
	{"TOS-network-redirect", 5, 2, 2}, {"TOS-host-redirect", 5, 3, 3},
	{"echo-request", 8, 0, 0xff}, {"router-advertisement", 9, 0, 0xff}, {"router-solicitation", 10, 0, 0xff},
	{"time-exceeded", 11, 0, 0xff}, {"ttl-zero-during-transit", 11, 0, 0}, {"ttl-zero-during-reassembly", 11, 1, 1},
	{"parameter-problem", 12, 0, 0xff}, {"ip-header-bad", 12, 0, 0}, {"required-option-missing", 12, 1, 1},
	{"timestamp-request", 13, 0, 0xff}, {"timestamp-reply", 14, 0, 0xff},
	{"address-mask-request", 17, 0, 0xff}, {"address-mask-reply", 18, 0, 0xff},
}

var icmp6Names = []icmpName{
	{"destination-unreachable", 1, 0, 0xff}, {"no-route", 1, 0, 0}, {"communication-prohibited", 1, 1, 1},
	{"beyond-scope", 1, 2, 2}, {"address-unreachable", 1, 3, 3}, {"port-unreachable", 1, 4, 4},
	{"failed-policy", 1, 5, 5}, {"reject-route", 1, 6, 6},
	{"packet-too-big", 2, 0, 0xff},
	{"time-exceeded", 3, 0, 0xff}, {"ttl-zero-during-transit", 3, 0, 0}, {"ttl-zero-during-reassembly", 3, 1, 1},
	{"parameter-problem", 4, 0, 0xff}, {"bad-header", 4, 0, 0}, {"unknown-header-type", 4, 1, 1}, {"unknown-option", 4, 2, 2},
	{"echo-request", 128, 0, 0xff}, {"echo-reply", 129, 0, 0xff},
	{"router-solicitation", 133, 0, 0xff}, {"router-advertisement", 134, 0, 0xff},
	{"neighbour-solicitation", 135, 0, 0xff}, {"neighbor-solicitation", 135, 0, 0xff},
	{"neighbour-advertisement", 136, 0, 0xff}, {"neighbor-advertisement", 136, 0, 0xff},
	{"redirect", 137, 0, 0xff},
}

// parseICMPType parses a type name (unique prefixes allowed, like
// iptables) or "type[/code]".
func parseICMPType(names []icmpName, s, what string) (*xt.ICMP, error) {
	var match []icmpName
	for _, n := range names {
		if strings.EqualFold(n.name, s) {
			match = []icmpName{n}
			break
		}
		if len(s) > 0 && strings.HasPrefix(strings.ToLower(n.name), strings.ToLower(s)) {
			match = append(match, n)
		}
	}
	if len(match) > 0 {
		if len(match) > 1 && (match[0].typ != match[1].typ || match[0].min != match[1].min || match[0].max != match[1].max) {
			return nil, paramErr("Ambiguous %s type `%s': `%s' or `%s'?", what, s, match[0].name, match[1].name)
		}
		return &xt.ICMP{Type: match[0].typ, Code: [2]uint8{match[0].min, match[0].max}}, nil
	}
	ts, cs, hasCode := strings.Cut(s, "/")
	t, ok := parseUint(ts, 255)
	if !ok {
		return nil, paramErr("Invalid %s type `%s'", what, s)
	}
	info := &xt.ICMP{Type: uint8(t), Code: [2]uint8{0, 0xff}}
	if hasCode {
		lo, hi, isRange := strings.Cut(cs, ":")
		c, ok := parseUint(lo, 255)
		d := c
		if isRange {
			var ok2 bool
			d, ok2 = parseUint(hi, 255)
			ok = ok && ok2
		}
		if !ok {
			return nil, paramErr("Invalid %s code `%s'", what, cs)
		}
		info.Code = [2]uint8{uint8(c), uint8(d)}
	}
	return info, nil
}

func printICMPType(w *strings.Builder, names []icmpName, i *xt.ICMP, numeric bool) {
	inv := i.InvFlags&xt.ICMPInv != 0
	if !numeric {
		for _, n := range names {
			if n.typ == i.Type && n.min == i.Code[0] && n.max == i.Code[1] {
				w.WriteString(" ")
				if inv {
					w.WriteString("!")
				}
				w.WriteString(n.name)
				return
			}
		}
	}
	if inv {
		w.WriteString(" !")
	}
	fmt.Fprintf(w, "type %d", i.Type)
	if i.Code[0] == i.Code[1] {
		fmt.Fprintf(w, " code %d", i.Code[0])
	} else if i.Code[0] != 0 || i.Code[1] != 0xff {
		fmt.Fprintf(w, " codes %d-%d", i.Code[0], i.Code[1])
	}
}

func init() {
	registerExt(&ext{
		name: "icmp", kind: xt.Match, family: xt.IPv4,
		opts: []extOpt{{"icmp-type", needArg, true}},
		init: func(abi.Family) xt.Info { return &xt.ICMP{Type: 0xff, Code: [2]uint8{0, 0xff}} },
		parse: func(c *parseCtx, info xt.Info, opt, arg string, inv bool, seen map[string]bool) error {
			v, err := parseICMPType(icmpNames, arg, "ICMP")
			if err != nil {
				return err
			}
			if inv {
				v.InvFlags = xt.ICMPInv
			}
			*info.(*xt.ICMP) = *v
			return nil
		},
		save: func(w *strings.Builder, fam abi.Family, ip *abi.IPHeader, info xt.Info) {
			i := info.(*xt.ICMP)
			if i.InvFlags&xt.ICMPInv != 0 {
				w.WriteString(" !")
			}
			if i.Type == 0xff {
				w.WriteString(" --icmp-type any")
				return
			}
			fmt.Fprintf(w, " --icmp-type %d", i.Type)
			if i.Code[0] != 0 || i.Code[1] != 0xff {
				fmt.Fprintf(w, "/%d", i.Code[0])
			}
		},
		print: func(w *strings.Builder, fam abi.Family, ip *abi.IPHeader, info xt.Info, numeric bool) {
			w.WriteString(" icmp")
			printICMPType(w, icmpNames, info.(*xt.ICMP), numeric)
		},
		kernelCheck: protoCheck(1, "icmp"),
	})
	registerExt(&ext{
		name: "icmp6", kind: xt.Match, family: xt.IPv6,
		opts: []extOpt{{"icmpv6-type", needArg, true}},
		init: func(abi.Family) xt.Info { return &xt.ICMP{Code: [2]uint8{0, 0xff}} },
		parse: func(c *parseCtx, info xt.Info, opt, arg string, inv bool, seen map[string]bool) error {
			v, err := parseICMPType(icmp6Names, arg, "ICMPv6")
			if err != nil {
				return err
			}
			if inv {
				v.InvFlags = xt.ICMPInv
			}
			*info.(*xt.ICMP) = *v
			return nil
		},
		save: func(w *strings.Builder, fam abi.Family, ip *abi.IPHeader, info xt.Info) {
			i := info.(*xt.ICMP)
			if i.InvFlags&xt.ICMPInv != 0 {
				w.WriteString(" !")
			}
			fmt.Fprintf(w, " --icmpv6-type %d", i.Type)
			if i.Code[0] != 0 || i.Code[1] != 0xff {
				fmt.Fprintf(w, "/%d", i.Code[0])
			}
		},
		print: func(w *strings.Builder, fam abi.Family, ip *abi.IPHeader, info xt.Info, numeric bool) {
			w.WriteString(" ipv6-icmp")
			printICMPType(w, icmp6Names, info.(*xt.ICMP), numeric)
		},
		kernelCheck: protoCheck(58, "icmp6"),
	})
}
