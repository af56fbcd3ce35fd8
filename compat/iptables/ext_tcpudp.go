package iptables

import (
	"fmt"
	"strings"

	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
	"github.com/bpfilter-go/bpfilter/frontends/iptables/xt"
)

var tcpFlagNames = []struct {
	name string
	flag uint8
}{
	{"FIN", 0x01}, {"SYN", 0x02}, {"RST", 0x04}, {"PSH", 0x08}, {"ACK", 0x10}, {"URG", 0x20}, {"ALL", 0x3f}, {"NONE", 0},
}

func parseTCPFlags(s string) (uint8, error) {
	var f uint8
	for _, n := range strings.Split(s, ",") {
		found := false
		for _, t := range tcpFlagNames {
			if strings.EqualFold(t.name, n) {
				f |= t.flag
				found = true
				break
			}
		}
		if !found {
			return 0, paramErr("Unknown TCP flag `%s'", n)
		}
	}
	return f, nil
}

func writeTCPFlags(w *strings.Builder, f uint8) {
	have := false
	for f != 0 {
		i := 0
		for f&tcpFlagNames[i].flag == 0 {
			i++
		}
		if have {
			w.WriteString(",")
		}
		w.WriteString(tcpFlagNames[i].name)
		have = true
		f &^= tcpFlagNames[i].flag
	}
	if !have {
		w.WriteString("NONE")
	}
}

func savePorts(w *strings.Builder, opt string, r [2]uint16, inv bool) {
	if r[0] == 0 && r[1] == 0xffff {
		return
	}
	if inv {
		w.WriteString(" !")
	}
	if r[0] != r[1] {
		fmt.Fprintf(w, " --%s %d:%d", opt, r[0], r[1])
	} else {
		fmt.Fprintf(w, " --%s %d", opt, r[0])
	}
}

func printPorts(w *strings.Builder, name string, r [2]uint16, inv bool, proto string, numeric bool) {
	if r[0] == 0 && r[1] == 0xffff && !inv {
		return
	}
	i := ""
	if inv {
		i = "!"
	}
	if r[0] == r[1] {
		fmt.Fprintf(w, " %s:%s%s", name, i, portName(r[0], proto, numeric))
	} else {
		fmt.Fprintf(w, " %ss:%s%s:%s", name, i, portName(r[0], proto, numeric), portName(r[1], proto, numeric))
	}
}

func protoCheck(want uint16, name string) func(fam abi.Family, ip *abi.IPHeader, info xt.Info, hook int) error {
	return func(fam abi.Family, ip *abi.IPHeader, info xt.Info, hook int) error {
		if ip.Proto != want || ip.InvFlags&abi.InvProto != 0 {
			return fmt.Errorf("%s match needs -p %s", name, name)
		}
		return nil
	}
}

func init() {
	registerExt(&ext{
		name: "tcp", kind: xt.Match,
		opts: []extOpt{{"source-port", needArg, true}, {"sport", needArg, true}, {"destination-port", needArg, true},
			{"dport", needArg, true}, {"syn", noArg, true}, {"tcp-flags", twoArgs, true}, {"tcp-option", needArg, true}},
		init: func(abi.Family) xt.Info {
			return &xt.TCP{SrcPorts: [2]uint16{0, 0xffff}, DstPorts: [2]uint16{0, 0xffff}}
		},
		parse: func(c *parseCtx, info xt.Info, opt, arg string, inv bool, seen map[string]bool) error {
			t := info.(*xt.TCP)
			switch opt {
			case "source-port", "sport":
				if seen["source-port"] && seen["sport"] {
					return paramErr("tcp: \"--sport\" option may only be specified once")
				}
				r, err := parsePortRange(arg, "tcp")
				if err != nil {
					return err
				}
				t.SrcPorts = r
				if inv {
					t.InvFlags |= xt.TCPInvSrcPorts
				}
			case "destination-port", "dport":
				if seen["destination-port"] && seen["dport"] {
					return paramErr("tcp: \"--dport\" option may only be specified once")
				}
				r, err := parsePortRange(arg, "tcp")
				if err != nil {
					return err
				}
				t.DstPorts = r
				if inv {
					t.InvFlags |= xt.TCPInvDstPorts
				}
			case "syn", "tcp-flags":
				if seen["syn"] && seen["tcp-flags"] {
					return paramErr("Only one of `--syn' or `--tcp-flags'  allowed")
				}
				if opt == "syn" {
					t.FlagMask, t.FlagCmp = 0x17, 0x02
				} else {
					m, cmp, _ := strings.Cut(arg, " ")
					var err error
					if t.FlagMask, err = parseTCPFlags(m); err != nil {
						return err
					}
					if t.FlagCmp, err = parseTCPFlags(cmp); err != nil {
						return err
					}
				}
				if inv {
					t.InvFlags |= xt.TCPInvFlags
				}
			case "tcp-option":
				n, ok := parseUint(arg, 255)
				if !ok || n == 0 {
					return paramErr("Bad TCP option \"%s\"", arg)
				}
				t.Option = uint8(n)
				if inv {
					t.InvFlags |= xt.TCPInvOption
				}
			}
			return nil
		},
		save: func(w *strings.Builder, fam abi.Family, ip *abi.IPHeader, info xt.Info) {
			t := info.(*xt.TCP)
			savePorts(w, "sport", t.SrcPorts, t.InvFlags&xt.TCPInvSrcPorts != 0)
			savePorts(w, "dport", t.DstPorts, t.InvFlags&xt.TCPInvDstPorts != 0)
			if t.Option != 0 || t.InvFlags&xt.TCPInvOption != 0 {
				if t.InvFlags&xt.TCPInvOption != 0 {
					w.WriteString(" !")
				}
				fmt.Fprintf(w, " --tcp-option %d", t.Option)
			}
			if t.FlagMask != 0 || t.InvFlags&xt.TCPInvFlags != 0 {
				if t.InvFlags&xt.TCPInvFlags != 0 {
					w.WriteString(" !")
				}
				w.WriteString(" --tcp-flags ")
				writeTCPFlags(w, t.FlagMask)
				w.WriteString(" ")
				writeTCPFlags(w, t.FlagCmp)
			}
		},
		print: func(w *strings.Builder, fam abi.Family, ip *abi.IPHeader, info xt.Info, numeric bool) {
			t := info.(*xt.TCP)
			w.WriteString(" tcp")
			printPorts(w, "spt", t.SrcPorts, t.InvFlags&xt.TCPInvSrcPorts != 0, "tcp", numeric)
			printPorts(w, "dpt", t.DstPorts, t.InvFlags&xt.TCPInvDstPorts != 0, "tcp", numeric)
			if t.Option != 0 || t.InvFlags&xt.TCPInvOption != 0 {
				inv := ""
				if t.InvFlags&xt.TCPInvOption != 0 {
					inv = "!"
				}
				fmt.Fprintf(w, " option=%s%d", inv, t.Option)
			}
			if t.FlagMask != 0 || t.InvFlags&xt.TCPInvFlags != 0 {
				w.WriteString(" flags:")
				if t.InvFlags&xt.TCPInvFlags != 0 {
					w.WriteString("!")
				}
				if numeric {
					fmt.Fprintf(w, "0x%02X/0x%02X", t.FlagMask, t.FlagCmp)
				} else {
					writeTCPFlags(w, t.FlagMask)
					w.WriteString("/")
					writeTCPFlags(w, t.FlagCmp)
				}
			}
			if t.InvFlags&^0x0f != 0 {
				fmt.Fprintf(w, " Unknown invflags: 0x%X", t.InvFlags&^0x0f)
			}
		},
		kernelCheck: protoCheck(6, "tcp"),
	})
	registerExt(&ext{
		name: "udp", kind: xt.Match,
		opts: []extOpt{{"source-port", needArg, true}, {"sport", needArg, true}, {"destination-port", needArg, true}, {"dport", needArg, true}},
		init: func(abi.Family) xt.Info {
			return &xt.UDP{SrcPorts: [2]uint16{0, 0xffff}, DstPorts: [2]uint16{0, 0xffff}}
		},
		parse: func(c *parseCtx, info xt.Info, opt, arg string, inv bool, seen map[string]bool) error {
			u := info.(*xt.UDP)
			if seen["source-port"] && seen["sport"] || seen["destination-port"] && seen["dport"] {
				return paramErr("udp: \"--%s\" option may only be specified once", opt)
			}
			r, err := parsePortRangeUnordered(arg, "udp")
			if err != nil {
				return err
			}
			if opt == "source-port" || opt == "sport" {
				u.SrcPorts = r
				if inv {
					u.InvFlags |= xt.UDPInvSrcPorts
				}
			} else {
				u.DstPorts = r
				if inv {
					u.InvFlags |= xt.UDPInvDstPorts
				}
			}
			return nil
		},
		save: func(w *strings.Builder, fam abi.Family, ip *abi.IPHeader, info xt.Info) {
			u := info.(*xt.UDP)
			savePorts(w, "sport", u.SrcPorts, u.InvFlags&xt.UDPInvSrcPorts != 0)
			savePorts(w, "dport", u.DstPorts, u.InvFlags&xt.UDPInvDstPorts != 0)
		},
		print: func(w *strings.Builder, fam abi.Family, ip *abi.IPHeader, info xt.Info, numeric bool) {
			u := info.(*xt.UDP)
			w.WriteString(" udp")
			printPorts(w, "spt", u.SrcPorts, u.InvFlags&xt.UDPInvSrcPorts != 0, "udp", numeric)
			printPorts(w, "dpt", u.DstPorts, u.InvFlags&xt.UDPInvDstPorts != 0, "udp", numeric)
			if u.InvFlags&^0x03 != 0 {
				fmt.Fprintf(w, " Unknown invflags: 0x%X", u.InvFlags&^0x03)
			}
		},
		kernelCheck: protoCheck(17, "udp"),
	})
}
