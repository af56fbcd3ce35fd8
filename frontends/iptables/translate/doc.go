// Package translate maps a decoded iptables table (package abi, with the
// match and target data decoded by package xt) to bpfilter's IR.
//
// Only the filter table is translated. Its builtin chains become netfilter
// chains: INPUT on BF_HOOK_NF_LOCAL_IN, FORWARD on BF_HOOK_NF_FORWARD and
// OUTPUT on BF_HOOK_NF_LOCAL_OUT, at the priorities given in Options
// (default: the daemon's iptables priorities, -2 and -1, before the kernel's
// own filter table at 0). User chains become ir.Chain values with User set,
// reached by ir.Jump and ir.Goto verdicts; RETURN is ir.Return. The backend
// inlines them at each call site (backend.CompileInRuleset,
// engine.Options.Ruleset).
//
// A netfilter program sees both address families, an iptables table only
// one: every builtin chain starts with a guard rule (index 0) that ACCEPTs
// packets of the other family, so they go on to the next hook function
// (ip6tables' chain, or the kernel) as they would in netfilter. Every other
// IR rule is exactly one iptables rule, in order: IR rule i+1 of a builtin
// chain and IR rule i of a user chain is iptables rule i+1 (1-based, as
// iptables numbers them), so counters map back one to one.
//
// What each part becomes (the kernel function whose semantics it follows):
//
//	-s/-d addr/mask, !         ip4/ip6.saddr/daddr eq under the mask (ip_packet_match)
//	-p proto, !                ip4.proto (IPv4) / meta.l4_proto after extension headers (IPv6)
//	-i/-o name, name+, !       meta.iifname/oifname: (name & mask) == iface & mask over IFNAMSIZ
//	-f, ! -f                   ip4.fragoff (not) eq 0
//	tcp --sport/--dport, !     tcp.sport/dport eq or range; --tcp-flags/--syn: tcp.flags under mask
//	udp                        udp.sport/dport
//	icmp/icmp6 --*-type t/c    icmp(v6).type eq, code eq; type 255 ("any") needs the header only
//	multiport --s/dports, !    tcp/udp port "ranges" (up to 15 ports or ranges)
//	multiport --ports, !       tcp.port/udp.port "ranges": source or destination port
//	iprange, !                 ip4/ip6.saddr/daddr "ranges"
//	tcp --tcp-option N, !      tcp.option eq N: tcp_find_option's walk of the options
//	pkttype --pkt-type, !      meta.pkttype eq (skb->pkt_type, PACKET_LOOPBACK as xt_pkttype maps it)
//	mac --mac-source, !        eth.saddr eq (skb->dev Ethernet and MAC header set, as xt_mac checks)
//	conntrack --ctstate, state ct.state any-of bits, from skb->_nfct as xt_conntrack computes it
//	conntrack --ctproto, --ctdir, --ctorig/--ctrepl src/dst[port], --ctstatus,
//	  --ctexpire, each with !  ct.proto, ct.dir, ct.{orig,reply}.* , ct.status, ct.expire:
//	                           read from the entry; without an entry they hold and
//	                           --ctstate decides (or ct.state any NEW,ESTABLISHED,RELATED
//	                           is added), as conntrack_mt (conntrack.go)
//	mark --mark v/m, !         meta.mark eq under the mask
//	length, !                  ip4.len range; IPv6: ip6.plen ranges for (u16)(plen + 40)
//	ttl / hl eq ne lt gt       ip4.ttl / ip6.hoplimit eq, not eq, range
//	limit --limit r --limit-burst b  meta.limit token bucket (xt_limit: jiffies, HZ, credits; ! refused by iptables)
//	comment                    kept in the rule's text only
//	ACCEPT DROP RETURN -j -g   verdicts; a rule without -j is CONTINUE (it only counts)
//	LOG --log-prefix           log action (the chain's ring buffer), CONTINUE
//	REJECT                     refused, or DROP with a warning when Options.RejectAsDrop
//
// Matches on headers the packet lacks are false even negated, as the xt
// modules return false on fragments and short headers (they also hotdrop
// truncated headers; the IR counts a parse error and does not match).
// ct.state needs conntrack active in the namespace: see compat/nfsemantics.
// A TCP header with a data offset below 5 or truncated options drops the
// packet at a tcp.option match that is reached, as xt_tcpudp's hotdrop
// (ir.RuleOutcome).
// Everything else (Unsupported, --ctstate SNAT/DNAT with other states...)
// is refused with an *Error
// naming the chain, the rule (its -S text, Options.RuleText) and the
// feature; nothing is returned then.
package translate
