package iptables

import (
	"fmt"
	"strings"

	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
	"github.com/bpfilter-go/bpfilter/frontends/iptables/xt"
)

var logLevels = []struct {
	name  string
	level uint8
}{
	{"alert", 1}, {"crit", 2}, {"debug", 7}, {"emerg", 0}, {"error", 3}, {"info", 6}, {"notice", 5}, {"panic", 0}, {"warning", 4},
}

var logFlagOpts = []struct {
	opt, label string
	flag       uint8
}{
	{"log-tcp-sequence", "tcp-sequence", xt.LogTCPSeq}, {"log-tcp-options", "tcp-options", xt.LogTCPOpt},
	{"log-ip-options", "ip-options", xt.LogIPOpt}, {"log-uid", "uid", xt.LogUID}, {"log-macdecode", "macdecode", xt.LogMACDecode},
}

type rejectName struct {
	name, alias string
	with        uint32
}

var reject4 = []rejectName{
	{"icmp-net-unreachable", "net-unreach", xt.RejectNetUnreach},
	{"icmp-host-unreachable", "host-unreach", xt.RejectHostUnreach},
	{"icmp-proto-unreachable", "proto-unreach", xt.RejectProtoUnreach},
	{"icmp-port-unreachable", "port-unreach", xt.RejectPortUnreach},
	{"icmp-net-prohibited", "net-prohib", xt.RejectNetProhibited},
	{"icmp-host-prohibited", "host-prohib", xt.RejectHostProhib},
	{"tcp-reset", "tcp-rst", xt.RejectTCPReset},
	{"icmp-admin-prohibited", "admin-prohib", xt.RejectAdminProhib},
}

var reject6 = []rejectName{
	{"icmp6-no-route", "no-route", xt.Reject6NoRoute},
	{"icmp6-adm-prohibited", "adm-prohibited", xt.Reject6AdmProhib},
	{"icmp6-addr-unreachable", "addr-unreach", xt.Reject6AddrUnreach},
	{"icmp6-port-unreachable", "port-unreach", xt.Reject6PortUnreach},
	{"icmp6-policy-fail", "policy-fail", xt.Reject6PolicyFail},
	{"icmp6-reject-route", "reject-route", xt.Reject6RejectRoute},
	{"tcp-reset", "tcp-rst", xt.Reject6TCPReset},
}

func rejectTable(fam abi.Family) []rejectName {
	if fam == abi.IPv6 {
		return reject6
	}
	return reject4
}

func rejectName4or6(fam abi.Family, with uint32) string {
	for _, r := range rejectTable(fam) {
		if r.with == with {
			return r.name
		}
	}
	return fmt.Sprint(with)
}

func init() {
	logOpts := []extOpt{{"log-level", needArg, false}, {"log-prefix", needArg, false}}
	for _, f := range logFlagOpts {
		logOpts = append(logOpts, extOpt{f.opt, noArg, false})
	}
	registerExt(&ext{
		name: "LOG", kind: xt.Target,
		opts: logOpts,
		init: func(abi.Family) xt.Info { return &xt.Log{Level: 4} },
		parse: func(c *parseCtx, info xt.Info, opt, arg string, inv bool, seen map[string]bool) error {
			l := info.(*xt.Log)
			switch opt {
			case "log-level":
				if v, ok := parseUint(arg, 7); ok {
					l.Level = uint8(v)
					return nil
				}
				for _, n := range logLevels {
					if strings.EqualFold(n.name, arg) {
						l.Level = n.level
						return nil
					}
				}
				return paramErr("log-level `%s' unknown", arg)
			case "log-prefix":
				if len(arg) > xt.LogPrefixLen-1 {
					return paramErr("Maximum prefix length %d for --log-prefix", xt.LogPrefixLen-1)
				}
				if len(arg) == 0 {
					return paramErr("No prefix specified for --log-prefix")
				}
				l.Prefix = arg
			default:
				for _, f := range logFlagOpts {
					if f.opt == opt {
						l.Flags |= f.flag
					}
				}
			}
			return nil
		},
		save: func(w *strings.Builder, fam abi.Family, ip *abi.IPHeader, info xt.Info) {
			l := info.(*xt.Log)
			if l.Prefix != "" {
				w.WriteString(" --log-prefix")
				saveString(w, l.Prefix)
			}
			if l.Level != 4 {
				fmt.Fprintf(w, " --log-level %d", l.Level)
			}
			for _, f := range logFlagOpts {
				if l.Flags&f.flag != 0 {
					w.WriteString(" --" + f.opt)
				}
			}
		},
		print: func(w *strings.Builder, fam abi.Family, ip *abi.IPHeader, info xt.Info, numeric bool) {
			l := info.(*xt.Log)
			w.WriteString(" LOG")
			if numeric {
				fmt.Fprintf(w, " flags %d level %d", l.Flags, l.Level)
			} else {
				name := ""
				for _, n := range logLevels {
					if n.level == l.Level && n.name != "panic" {
						name = n.name
						break
					}
				}
				if name != "" {
					fmt.Fprintf(w, " level %s", name)
				} else {
					fmt.Fprintf(w, " UNKNOWN level %d", l.Level)
				}
				for _, f := range logFlagOpts {
					if l.Flags&f.flag != 0 {
						w.WriteString(" " + f.label)
					}
				}
				if l.Flags&^0x3f != 0 {
					w.WriteString(" unknown-flags")
				}
			}
			if l.Prefix != "" {
				fmt.Fprintf(w, " prefix \"%s\"", l.Prefix)
			}
		},
		kernelCheck: func(fam abi.Family, ip *abi.IPHeader, info xt.Info, hook int) error {
			l := info.(*xt.Log)
			if l.Level >= 8 {
				return fmt.Errorf("LOG: level %d >= 8", l.Level)
			}
			return nil
		},
	})
	registerExt(&ext{
		name: "REJECT", kind: xt.Target, table: "filter",
		hooks: 1<<abi.HookLocalIn | 1<<abi.HookForward | 1<<abi.HookLocalOut,
		opts:  []extOpt{{"reject-with", needArg, false}},
		init: func(fam abi.Family) xt.Info {
			if fam == abi.IPv6 {
				return &xt.Reject{With: xt.Reject6PortUnreach}
			}
			return &xt.Reject{With: xt.RejectPortUnreach}
		},
		parse: func(c *parseCtx, info xt.Info, opt, arg string, inv bool, seen map[string]bool) error {
			for _, r := range rejectTable(c.fam) {
				if arg == r.name || arg == r.alias {
					info.(*xt.Reject).With = r.with
					return nil
				}
			}
			return paramErr("unknown reject type \"%s\"", arg)
		},
		save: func(w *strings.Builder, fam abi.Family, ip *abi.IPHeader, info xt.Info) {
			fmt.Fprintf(w, " --reject-with %s", rejectName4or6(fam, info.(*xt.Reject).With))
		},
		print: func(w *strings.Builder, fam abi.Family, ip *abi.IPHeader, info xt.Info, numeric bool) {
			fmt.Fprintf(w, " reject-with %s", rejectName4or6(fam, info.(*xt.Reject).With))
		},
		kernelCheck: func(fam abi.Family, ip *abi.IPHeader, info xt.Info, hook int) error {
			r := info.(*xt.Reject)
			reset, max := uint32(xt.RejectTCPReset), uint32(xt.RejectAdminProhib)
			if fam == abi.IPv6 {
				reset, max = xt.Reject6TCPReset, xt.Reject6RejectRoute
			}
			if r.With > max || (fam == abi.IPv4 && r.With == xt.RejectEchoReply) || (fam == abi.IPv6 && r.With == xt.Reject6EchoReply) {
				return fmt.Errorf("REJECT: unsupported reject type %d", r.With)
			}
			if r.With == reset && (ip.Proto != 6 || ip.InvFlags&abi.InvProto != 0) {
				return fmt.Errorf("REJECT: TCP_RESET invalid for non-tcp")
			}
			return nil
		},
	})
	registerExt(&ext{
		name: "MARK", kind: xt.Target, rev: 2,
		opts: []extOpt{{"set-xmark", needArg, false}, {"set-mark", needArg, false}, {"and-mark", needArg, false},
			{"or-mark", needArg, false}, {"xor-mark", needArg, false}},
		init: func(abi.Family) xt.Info { return &xt.MarkTarget{} },
		parse: func(c *parseCtx, info xt.Info, opt, arg string, inv bool, seen map[string]bool) error {
			if len(seen) > 1 {
				return paramErr("MARK target: Only one action allowed")
			}
			m := info.(*xt.MarkTarget)
			v, mask, ok := parseValueMask(arg)
			if !ok || (mask != 0xffffffff && opt != "set-xmark" && opt != "set-mark") {
				return paramErr("MARK: Bad value for \"--%s\" option: \"%s\"", opt, arg)
			}
			switch opt {
			case "set-xmark":
				m.Mark, m.Mask = v, mask
			case "set-mark":
				m.Mark, m.Mask = v, v|mask
			case "and-mark":
				m.Mark, m.Mask = 0, ^v
			case "or-mark":
				m.Mark, m.Mask = v, v
			case "xor-mark":
				m.Mark, m.Mask = v, 0
			}
			return nil
		},
		final: func(c *parseCtx, info xt.Info, seen map[string]bool) error {
			if len(seen) == 0 {
				return paramErr("MARK: One of the --set-xmark, --{and,or,xor,set}-mark options is required")
			}
			return nil
		},
		save: func(w *strings.Builder, fam abi.Family, ip *abi.IPHeader, info xt.Info) {
			m := info.(*xt.MarkTarget)
			fmt.Fprintf(w, " --set-xmark 0x%x/0x%x", m.Mark, m.Mask)
		},
		print: func(w *strings.Builder, fam abi.Family, ip *abi.IPHeader, info xt.Info, numeric bool) {
			m := info.(*xt.MarkTarget)
			switch {
			case m.Mark == 0:
				fmt.Fprintf(w, " MARK and 0x%x", ^m.Mask)
			case m.Mark == m.Mask:
				fmt.Fprintf(w, " MARK or 0x%x", m.Mark)
			case m.Mask == 0:
				fmt.Fprintf(w, " MARK xor 0x%x", m.Mark)
			case m.Mask == 0xffffffff:
				fmt.Fprintf(w, " MARK set 0x%x", m.Mark)
			default:
				fmt.Fprintf(w, " MARK xset 0x%x/0x%x", m.Mark, m.Mask)
			}
		},
	})
	registerExt(&ext{
		name: "NFLOG", kind: xt.Target,
		opts: []extOpt{{"nflog-group", needArg, false}, {"nflog-prefix", needArg, false}, {"nflog-range", needArg, false},
			{"nflog-size", needArg, false}, {"nflog-threshold", needArg, false}},
		init: func(abi.Family) xt.Info { return &xt.NFLog{} },
		parse: func(c *parseCtx, info xt.Info, opt, arg string, inv bool, seen map[string]bool) error {
			n := info.(*xt.NFLog)
			bad := paramErr("NFLOG: Bad value for \"--%s\" option: \"%s\"", opt, arg)
			switch opt {
			case "nflog-group", "nflog-threshold":
				v, ok := parseUint(arg, 0xffff)
				if !ok {
					return bad
				}
				if opt == "nflog-group" {
					n.Group = uint16(v)
				} else {
					n.Threshold = uint16(v)
				}
			case "nflog-range", "nflog-size":
				if seen["nflog-range"] && seen["nflog-size"] {
					return paramErr("NFLOG: --nflog-range and --nflog-size are mutually exclusive")
				}
				v, ok := parseUint(arg, 0xffffffff)
				if !ok {
					return bad
				}
				n.Len = uint32(v)
				if opt == "nflog-size" {
					n.Flags |= 0x1
				}
			case "nflog-prefix":
				if len(arg) > xt.NFLogPrefixLen-1 {
					arg = arg[:xt.NFLogPrefixLen-1]
				}
				n.Prefix = arg
			}
			return nil
		},
		save: func(w *strings.Builder, fam abi.Family, ip *abi.IPHeader, info xt.Info) {
			nflogDump(w, info.(*xt.NFLog), "--")
		},
		print: func(w *strings.Builder, fam abi.Family, ip *abi.IPHeader, info xt.Info, numeric bool) {
			nflogDump(w, info.(*xt.NFLog), "")
		},
	})
	registerExt(&ext{
		name: "NFQUEUE", kind: xt.Target, rev: 3,
		opts: []extOpt{{"queue-num", needArg, false}, {"queue-balance", needArg, false}, {"queue-bypass", noArg, false}, {"queue-cpu-fanout", noArg, false}},
		init: func(abi.Family) xt.Info { return &xt.NFQueue{Revision: 3, QueuesTotal: 1} },
		parse: func(c *parseCtx, info xt.Info, opt, arg string, inv bool, seen map[string]bool) error {
			q := info.(*xt.NFQueue)
			if seen["queue-num"] && seen["queue-balance"] {
				return paramErr("NFQUEUE target: --queue-num and --queue-balance are mutually exclusive")
			}
			switch opt {
			case "queue-num":
				v, ok := parseUint(arg, 0xffff)
				if !ok {
					return paramErr("NFQUEUE: Bad value for \"--queue-num\" option: \"%s\"", arg)
				}
				q.QueueNum = uint16(v)
			case "queue-balance":
				lo, hi, isRange := strings.Cut(arg, ":")
				if !isRange {
					return paramErr("NFQUEUE: Bad range \"%s\"", arg)
				}
				a, b := uint64(0), uint64(65535)
				ok1, ok2 := true, true
				if lo != "" {
					a, ok1 = parseUint(lo, 0xffff)
				}
				if hi != "" {
					b, ok2 = parseUint(hi, 0xffff)
				}
				if !ok1 || !ok2 || a >= b {
					return paramErr("NFQUEUE: Bad range \"%s\"", arg)
				}
				// The count wraps to 0 for 0:65535; the kernel refuses it.
				q.QueueNum, q.QueuesTotal = uint16(a), uint16(b-a+1)
			case "queue-bypass":
				q.Flags |= 0x1
			case "queue-cpu-fanout":
				q.Flags |= 0x2
			}
			return nil
		},
		kernelCheck: func(fam abi.Family, ip *abi.IPHeader, info xt.Info, hook int) error {
			q := info.(*xt.NFQueue)
			if q.QueuesTotal == 0 {
				return fmt.Errorf("NFQUEUE: number of total queues is 0")
			}
			if uint32(q.QueuesTotal)-1+uint32(q.QueueNum) > 0xffff {
				return fmt.Errorf("NFQUEUE: number of queues (%d) out of range", q.QueuesTotal)
			}
			if q.Flags&^3 != 0 {
				return fmt.Errorf("NFQUEUE: unknown flags %#x", q.Flags)
			}
			return nil
		},
		save: func(w *strings.Builder, fam abi.Family, ip *abi.IPHeader, info xt.Info) {
			q := info.(*xt.NFQueue)
			if q.QueuesTotal > 1 {
				fmt.Fprintf(w, " --queue-balance %d:%d", q.QueueNum, uint32(q.QueueNum)+uint32(q.QueuesTotal)-1)
			} else {
				fmt.Fprintf(w, " --queue-num %d", q.QueueNum)
			}
			if q.Flags&1 != 0 {
				w.WriteString(" --queue-bypass")
			}
			if q.Flags&2 != 0 {
				w.WriteString(" --queue-cpu-fanout")
			}
		},
		print: func(w *strings.Builder, fam abi.Family, ip *abi.IPHeader, info xt.Info, numeric bool) {
			q := info.(*xt.NFQueue)
			if q.QueuesTotal > 1 {
				fmt.Fprintf(w, " NFQUEUE balance %d:%d", q.QueueNum, uint32(q.QueueNum)+uint32(q.QueuesTotal)-1)
			} else {
				fmt.Fprintf(w, " NFQUEUE num %d", q.QueueNum)
			}
			if q.Flags&1 != 0 {
				w.WriteString(" bypass")
			}
			if q.Flags&2 != 0 {
				w.WriteString(" cpu-fanout")
			}
		},
	})
}

func nflogDump(w *strings.Builder, n *xt.NFLog, prefix string) {
	if n.Prefix != "" {
		fmt.Fprintf(w, " %snflog-prefix", prefix)
		saveString(w, n.Prefix)
	}
	if n.Group != 0 {
		fmt.Fprintf(w, " %snflog-group %d", prefix, n.Group)
	}
	if n.Flags&1 != 0 {
		fmt.Fprintf(w, " %snflog-size %d", prefix, n.Len)
	} else if n.Len != 0 {
		fmt.Fprintf(w, " %snflog-range %d", prefix, n.Len)
	}
	if n.Threshold != 0 {
		fmt.Fprintf(w, " %snflog-threshold %d", prefix, n.Threshold)
	}
}
