// Package bpf is bpfilter's kernel plumbing over cilium/ebpf: loading a
// collection with its verifier log kept, BPF tokens, feature probes, and
// attaching one program to a hook, with atomic updates, pinning and
// re-opening pinned attachments. It knows hooks, never rules.
//
// Attach mechanisms, one Attachment per chain:
//
//   - XDP: an XDP link in driver mode, or generic mode when the driver has
//     no native XDP (the fallback is logged with the driver's refusal).
//   - TC ingress/egress: a TCX link.
//   - Netfilter: two BPF netfilter links, NFPROTO_IPV4 and NFPROTO_IPV6, on
//     the hook's NF_INET_* number, at the first of the chain's two
//     priorities (DefaultNFPriorities when unset).
//   - cgroup_skb ingress/egress and cgroup sock_addr connect4/6,
//     sendmsg4/6: a cgroup link with the matching attach type.
//
// Updates never leave the hook without a program: XDP, TCX and cgroup links
// swap their program atomically (BPF_LINK_UPDATE); netfilter links cannot,
// so the new program is attached at the other priority first and the old
// links are closed afterwards (make-before-break).
//
// Network namespaces: XDP, TCX and netfilter links belong to the network
// namespace of the thread that creates them, and interface names are
// resolved there; callers lock their OS thread and enter the namespace
// before Attach and LoadPinnedAttachment. An Attachment remembers the
// namespace of its netfilter links, so Update may be called from any
// thread.
//
// Pin layout of an attachment directory: "link" (XDP, TCX, cgroup), or
// "link_ipv4" and "link_ipv6" (netfilter). Package engine pins the
// program and maps next to them under their own names.
package bpf
