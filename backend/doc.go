// Package backend compiles one ir.Chain into a BPF collection: the program
// bf_prog, its per-CPU counters, its log ring buffer and one map per set.
//
// Compile is pure: it only builds a *ebpf.CollectionSpec; loading and
// attaching belong to the bpf and engine packages. The generated code has
// one shape for every hook flavour:
//
//  1. a flavour prologue reads the context (packet length, L3 protocol) and
//     copies the Ethernet, network and transport headers into fixed stack
//     buffers with the flavour's load primitive (bpf_xdp_load_bytes,
//     bpf_skb_load_bytes, or bpf_dynptr_read on an skb dynptr for
//     netfilter); cgroup sock_addr programs fill the same buffers from the
//     socket address;
//  2. the parser leaves the parse state in two registers (R7: EtherType and
//     "network header present"; R8: L4 protocol, "protocol known" and
//     "transport header present") and counts parse errors;
//  3. each rule checks its hoisted protocol guards once, then compiles each
//     match into loads from the stack buffers and compares that jump to the
//     rule's "next" label, then runs its actions and verdict;
//  4. terminal verdicts and the policy store their counter slot and return
//     code and jump (gotol) to one shared exit block that updates
//     bf_counters and returns (or calls bpf_redirect). A counter update
//     inlined in every rule makes verification time quadratic in the
//     number of rules; CONTINUE rules still count inline.
//
// Maps: bf_counters (per-CPU array of Counter; slot i is rule i, then the
// policy and parse-error slots, see CounterIndexPolicy), bf_log (ring
// buffer of LogRecordSize records, see DecodeLogRecord), bf_log_rate (only
// when a rule logs with "every": per-rule time of the last record) and
// bf_set_<i> per chain set (hash map keyed by the concatenated key bytes,
// or LPM trie keyed by {prefix length, address}; see SetKey and
// Program.SetMaps).
//
// makePlan (plan.go) hoists guards; optimizer.Build (package optimizer)
// cuts the chain into linear and lookup segments. Lookup segments become
// map lookups and a dispatch through bf_actions (lookup.go, lookupmaps.go);
// long linear runs are split over tail-called programs (split.go). Counter
// slots are the plan's rule IDs. See docs/OPTIMISER.md, "Code generation".
//
// The packet semantics are those of package ir (ir.Parse, ir.Eval); the
// kernel tests of this package run every program with BPF_PROG_TEST_RUN and
// compare its verdict with ir.Eval.
package backend
