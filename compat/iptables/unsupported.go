package iptables

import "github.com/bpfilter-go/bpfilter/frontends/iptables/xt"

// Unsupported lists the iptables extensions this package knows of but does
// not implement, by kind and name. Rules using them are refused with the
// extension named; nothing is silently dropped. NAT targets belong to the
// nat table, which the IR stage refuses as a whole.
var Unsupported = map[xt.Kind][]string{
	xt.Match: {
		"ah", "cgroup", "cluster", "connbytes", "connlabel", "connlimit", "connmark", "cpu", "dccp",
		"dscp", "dst", "ecn", "esp", "eui64", "frag", "hashlimit", "hbh", "helper", "ipcomp",
		"ipv6header", "ipvs", "mh", "nfacct", "osf", "owner", "physdev", "policy", "quota",
		"rateest", "realm", "recent", "rpfilter", "rt", "sctp", "set", "socket", "srh", "statistic",
		"string", "tcpmss", "time", "tos", "u32", "bpf",
	},
	xt.Target: {
		"AUDIT", "CHECKSUM", "CLASSIFY", "CONNMARK", "CONNSECMARK", "CT", "DNAT", "DNPT", "DSCP",
		"ECN", "HL", "HMARK", "IDLETIMER", "LED", "MASQUERADE", "NETMAP", "NOTRACK", "RATEEST",
		"REDIRECT", "SECMARK", "SET", "SNAT", "SNPT", "SYNPROXY", "TCPMSS", "TCPOPTSTRIP", "TEE",
		"TOS", "TPROXY", "TRACE", "TTL",
	},
}

// unsupportedNote explains a refusal of a known but unimplemented
// extension.
func unsupportedNote(kind xt.Kind, name string) string {
	for _, n := range Unsupported[kind] {
		if n == name {
			return " (" + kind.String() + " " + name + " is not supported by bpfilter)"
		}
	}
	return ""
}
