// Package ir is bpfilter's rule intermediate representation: the one shape
// that every frontend (bfcli, iptables, nftables) produces and that the
// backend compiles into BPF.
//
// The IR is plain data. A Ruleset holds Chains; a Chain is attached to a Hook
// with HookOpts, has a policy, named Sets and Rules; a Rule is a conjunction
// of Matches, optional actions (counter, log, mark) and one Verdict.
//
// A Match is "field ∘ mask ∘ op ∘ operand": the packet bytes named by Field,
// ANDed with Mask, compared with Value using Op, possibly negated. Values
// are big-endian byte strings of the field's width, so the backend, the
// optimiser and the evaluator see one uniform representation; the field
// table (Fields) knows how to parse and print them for humans.
//
// Packet semantics shared by every consumer of the IR (the evaluator in this
// package is the reference, the backend must agree with it):
//
//   - A match on a header the packet does not carry (tcp.dport on a UDP
//     packet, ip4.saddr on an IPv6 packet, any L4 field on a non-first
//     fragment) is false, also when negated.
//   - A header that is announced but truncated counts as a parse error
//     (the chain's error counter) and is treated as absent.
//   - The L4 protocol of an IPv6 packet is found by walking at most
//     MaxIPv6ExtHeaders extension headers (hop-by-hop, routing, fragment,
//     destination options, authentication).
//   - Rules are evaluated in order; the first matching rule with a terminal
//     verdict decides. CONTINUE runs the rule's actions and goes on.
//   - A rule's matches are evaluated in order and stop at the first that
//     fails; this is observable only through meta.limit, the one stateful
//     match: a packet takes a token from a limit's bucket when it reaches
//     the match (the matches before it hold). The evaluator stays a pure
//     function of its inputs: the time and the buckets are explicit
//     (Packet.Limits, a LimitState it updates; see limit.go).
//   - A tcp.option match reached on a TCP header whose options cannot be
//     walked drops the packet on the spot, uncounted, as xt_tcpudp's
//     hotdrop (RuleOutcome, Result.HotDrop).
//   - The iptables-only xt.l4 construct (xtl4.go) drops the packet the
//     same way where the kernel's tcp, udp, icmp, icmp6 or multiport match
//     hotdrops (transport header shorter than the match reads, tcp on an
//     IPv4 fragment at offset 1), is false on other fragments, and holds
//     otherwise.
package ir
