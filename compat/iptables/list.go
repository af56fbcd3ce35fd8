package iptables

import (
	"fmt"
	"io"
	"strings"

	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
	"github.com/bpfilter-go/bpfilter/frontends/iptables/xt"
)

// listFormat mirrors iptables' FMT_* flags.
type listFormat struct {
	numeric, counts, via, kmg, lineNumbers bool
}

// printNum is xtables_print_num; notable drops the column padding.
func printNum(w *strings.Builder, n uint64, f listFormat, notable bool) {
	pad := func(width int, s string) {
		if notable {
			w.WriteString(s + " ")
		} else {
			fmt.Fprintf(w, "%*s ", width, s)
		}
	}
	if !f.kmg {
		pad(8, fmt.Sprint(n))
		return
	}
	if n <= 99999 {
		pad(5, fmt.Sprint(n))
		return
	}
	for _, unit := range []string{"K", "M", "G"} {
		n = (n + 500) / 1000
		if n <= 9999 {
			pad(5, fmt.Sprintf("%d%s", n, unit))
			return
		}
	}
	n = (n + 500) / 1000
	pad(5, fmt.Sprintf("%dT", n))
}

func (ts *Tables) list(out io.Writer, t *abi.Table, cmd *Command) error {
	f := listFormat{numeric: cmd.Numeric, counts: cmd.Verbose, via: cmd.Verbose, kmg: !cmd.Exact, lineNumbers: cmd.LineNumbers}
	var w strings.Builder
	found := false
	if cmd.Chain != "" && t.Chain(cmd.Chain) == nil {
		return errNoChain
	}
	for _, c := range t.Chains {
		if cmd.Chain != "" && c.Name != cmd.Chain {
			continue
		}
		if found {
			w.WriteString("\n")
		}
		if cmd.RuleNum == 0 {
			listHeader(&w, t, c, f)
		}
		for i, r := range c.Rules {
			if cmd.RuleNum == 0 || cmd.RuleNum == i+1 {
				listRule(&w, ts.Family, r, i+1, f)
			}
		}
		found = true
	}
	_, err := io.WriteString(out, w.String())
	return err
}

func listHeader(w *strings.Builder, t *abi.Table, c *abi.Chain, f listFormat) {
	fmt.Fprintf(w, "Chain %s", c.Name)
	if c.Builtin() {
		fmt.Fprintf(w, " (policy %s", policyName(c))
		if f.counts {
			w.WriteString(" ")
			printNum(w, c.Counters.Packets, f, true)
			w.WriteString("packets, ")
			printNum(w, c.Counters.Bytes, f, true)
			w.WriteString("bytes")
		}
		w.WriteString(")\n")
	} else {
		fmt.Fprintf(w, " (%d references)\n", references(t, c.Name))
	}
	if f.lineNumbers {
		fmt.Fprintf(w, "%-4s ", "num")
	}
	if f.counts {
		if f.kmg {
			fmt.Fprintf(w, "%5s %5s ", "pkts", "bytes")
		} else {
			fmt.Fprintf(w, "%8s %10s ", "pkts", "bytes")
		}
	}
	fmt.Fprintf(w, "%-9s ", "target")
	w.WriteString(" prot opt")
	if f.via {
		fmt.Fprintf(w, " %-6s %-6s ", "in", "out")
	}
	fmt.Fprintf(w, " %-19s  %-19s \n", "source", "destination")
}

// targetName is iptc_get_target: the verdict, chain or extension name.
func targetName(r *abi.Rule) string {
	switch r.Target.Kind {
	case abi.TargetVerdict:
		if n, ok := abi.VerdictName(r.Target.Verdict); ok {
			return n
		}
		return fmt.Sprint(r.Target.Verdict)
	case abi.TargetJump:
		return r.Target.Chain
	case abi.TargetExtension:
		return r.Target.Name
	}
	return ""
}

func listAddr(a, m interface {
	AsSlice() []byte
	String() string
}, f listFormat) string {
	if isZero(m.AsSlice()) && !f.numeric {
		return "anywhere"
	}
	s := a.String()
	if n, ok := maskLenBytes(m.AsSlice()); ok {
		if n != len(m.AsSlice())*8 {
			s += fmt.Sprintf("/%d", n)
		}
	} else {
		s += "/" + m.String()
	}
	return s
}

func maskLenBytes(b []byte) (int, bool) {
	n := 0
	for i, c := range b {
		if c == 0xff {
			n += 8
			continue
		}
		for c&0x80 != 0 {
			n++
			c <<= 1
		}
		if c != 0 {
			return 0, false
		}
		for _, d := range b[i+1:] {
			if d != 0 {
				return 0, false
			}
		}
		return n, true
	}
	return n, true
}

func listRule(w *strings.Builder, fam abi.Family, r *abi.Rule, num int, f listFormat) {
	ip := &r.IP
	if f.lineNumbers {
		fmt.Fprintf(w, "%-4d ", num)
	}
	if f.counts {
		printNum(w, r.Counters.Packets, f, false)
		printNum(w, r.Counters.Bytes, f, false)
	}
	fmt.Fprintf(w, "%-9s ", targetName(r))
	if ip.InvFlags&abi.InvProto != 0 {
		w.WriteString("!")
	} else {
		w.WriteString(" ")
	}
	pname := ""
	if !f.numeric {
		pname = protoName(ip.Proto)
	}
	if pname != "" {
		fmt.Fprintf(w, "%-5s", pname)
	} else {
		fmt.Fprintf(w, "%-5d", ip.Proto)
	}
	if ip.InvFlags&abi.InvFrag != 0 && fam == abi.IPv4 {
		w.WriteString("!")
	} else {
		w.WriteString("-")
	}
	if fam == abi.IPv4 && ip.Flags&abi.FlagFragment != 0 {
		w.WriteString("f")
	} else {
		w.WriteString("-")
	}
	w.WriteString(" ")
	if f.via {
		any := "any"
		if f.numeric {
			any = "*"
		}
		in, out := ip.InIface, ip.OutIface
		if in == "" {
			in = any
		}
		if out == "" {
			out = any
		}
		if ip.InvFlags&abi.InvVIAIn != 0 {
			in = "!" + in
		}
		if ip.InvFlags&abi.InvVIAOut != 0 {
			out = "!" + out
		}
		fmt.Fprintf(w, " %-6s %-6s ", in, out)
	}
	inv := func(b bool) string {
		if b {
			return "!"
		}
		return " "
	}
	fmt.Fprintf(w, "%s%-19s ", inv(ip.InvFlags&abi.InvSrcIP != 0), listAddr(ip.Src, ip.SrcMask, f))
	fmt.Fprintf(w, "%s%-19s ", inv(ip.InvFlags&abi.InvDstIP != 0), listAddr(ip.Dst, ip.DstMask, f))
	goflag := uint8(abi.FlagGoto)
	if fam == abi.IPv6 {
		goflag = abi.FlagV6Goto
	}
	if ip.Flags&goflag != 0 {
		w.WriteString("[goto] ")
	}
	for _, m := range r.Matches {
		e := extFor(xt.Match, fam, m.Name, m.Revision, m.Info)
		if e == nil || m.Info == nil {
			fmt.Fprintf(w, "UNKNOWN match `%s' ", m.Name)
			continue
		}
		if e.print != nil {
			e.print(w, fam, ip, m.Info, f.numeric)
		} else {
			fmt.Fprintf(w, "%s ", e.name)
		}
	}
	if r.Target.Kind == abi.TargetExtension {
		e := extFor(xt.Target, fam, r.Target.Name, r.Target.Revision, r.Target.Info)
		if e != nil && r.Target.Info != nil && e.print != nil {
			e.print(w, fam, ip, r.Target.Info, f.numeric)
		} else if e == nil || r.Target.Info == nil {
			fmt.Fprintf(w, "[%d bytes of unknown target data] ", len(r.Target.Data))
		}
	}
	w.WriteString("\n")
}
