package translate

// Unsupported lists the iptables extensions (matches and targets) that are
// refused, with the reason given to the user. Extensions in neither this
// list nor the translator are refused as "not translated".
var Unsupported = map[string]string{
	"REJECT":  "a netfilter BPF program can only return a verdict; it cannot send the ICMP error or TCP reset netfilter's REJECT sends",
	"MARK":    "a netfilter BPF program cannot write skb->mark (its context is read-only and no helper or kfunc sets the mark), so MARK cannot be done at the netfilter hooks",
	"NFLOG":   "netfilter BPF programs cannot hand packets to nfnetlink_log",
	"NFQUEUE": "netfilter BPF programs cannot queue packets to user space (only NF_ACCEPT and NF_DROP are allowed verdicts)",
	"QUEUE":   "netfilter BPF programs cannot queue packets to user space (only NF_ACCEPT and NF_DROP are allowed verdicts)",
}

// RejectAsDropHint ends the refusal of REJECT: the explicit opt-ins that
// translate it as DROP (Options.RejectAsDrop), never silently.
const RejectAsDropHint = " (to drop the packets without a reply instead, run the daemon with --iptables-reject-as-drop, or use bpfilter-iptables import --reject-as-drop)"
