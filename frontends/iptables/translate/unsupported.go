package translate

// Unsupported lists the iptables extensions (matches and targets) that are
// refused, with the reason given to the user. Extensions in neither this
// list nor the translator are refused as "not translated".
var Unsupported = map[string]string{
	"REJECT":   "a netfilter BPF program can only return a verdict; it cannot send the ICMP error or TCP reset netfilter's REJECT sends",
	"MARK":     "netfilter BPF programs cannot write skb->mark (the netfilter program context is read-only)",
	"NFLOG":    "netfilter BPF programs cannot hand packets to nfnetlink_log",
	"NFQUEUE":  "netfilter BPF programs cannot queue packets to user space (only NF_ACCEPT and NF_DROP are allowed verdicts)",
	"QUEUE":    "netfilter BPF programs cannot queue packets to user space (only NF_ACCEPT and NF_DROP are allowed verdicts)",
	"addrtype": "address types need a FIB lookup, and bpf_fib_lookup is only available to XDP and TC programs, not to netfilter ones",
	"limit":    "the token bucket is not implemented in the backend yet (it needs per-rule state in a map, bpf_jiffies64 and the kernel's HZ to follow xt_limit)",
}
