package iptables

import (
	"fmt"
	"io"
	"strings"

	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
	"github.com/bpfilter-go/bpfilter/frontends/iptables/xt"
)

// writeRuleLine is the one-line rule iptables prints for -v with -A, -I,
// -D, -R and -C (print_firewall_line, FMT_PRINT_RULE):
// "TARGET  PROTO opt -- in IN out OUT  SRC  -> DST  MATCHES".
func writeRuleLine(w io.Writer, fam abi.Family, r *abi.Rule) {
	var b strings.Builder
	ip := &r.IP
	fmt.Fprintf(&b, "%s ", targetName(r))
	if ip.InvFlags&abi.InvProto != 0 {
		b.WriteString("!")
	} else {
		b.WriteString(" ")
	}
	pname := ""
	for _, p := range chainProtos {
		if p.num == ip.Proto {
			pname = p.name
			break
		}
	}
	if pname != "" {
		fmt.Fprintf(&b, "%s ", pname)
	} else {
		fmt.Fprintf(&b, "%d ", ip.Proto)
	}
	b.WriteString("opt ")
	if fam == abi.IPv4 && ip.InvFlags&abi.InvFrag != 0 {
		b.WriteString("!")
	} else {
		b.WriteString("-")
	}
	if fam == abi.IPv4 && ip.Flags&abi.FlagFragment != 0 {
		b.WriteString("f ")
	} else {
		b.WriteString("- ")
	}
	iface := func(name string, inv bool) string {
		if name == "" {
			name = "*"
		}
		if inv {
			name = "!" + name
		}
		return name
	}
	fmt.Fprintf(&b, "in %s ", iface(ip.InIface, ip.InvFlags&abi.InvVIAIn != 0))
	fmt.Fprintf(&b, "out %s ", iface(ip.OutIface, ip.InvFlags&abi.InvVIAOut != 0))
	f := listFormat{numeric: true}
	inv := func(x bool) string {
		if x {
			return "!"
		}
		return " "
	}
	fmt.Fprintf(&b, "%s%s ", inv(ip.InvFlags&abi.InvSrcIP != 0), listAddr(ip.Src, ip.SrcMask, f))
	fmt.Fprintf(&b, "%s-> %s", inv(ip.InvFlags&abi.InvDstIP != 0), listAddr(ip.Dst, ip.DstMask, f))
	b.WriteString("  ")
	goflag := uint8(abi.FlagGoto)
	if fam == abi.IPv6 {
		goflag = abi.FlagV6Goto
	}
	if ip.Flags&goflag != 0 {
		b.WriteString("[goto] ")
	}
	for _, m := range r.Matches {
		if e := extFor(xt.Match, fam, m.Name, m.Revision, m.Info); e != nil && m.Info != nil && e.print != nil {
			e.print(&b, fam, ip, m.Info, true)
		}
	}
	if r.Target.Kind == abi.TargetExtension {
		if e := extFor(xt.Target, fam, r.Target.Name, r.Target.Revision, r.Target.Info); e != nil && r.Target.Info != nil && e.print != nil {
			e.print(&b, fam, ip, r.Target.Info, true)
		}
	}
	b.WriteString("\n")
	io.WriteString(w, b.String())
}
