// Package bpf is bpfilter's kernel plumbing over cilium/ebpf: loading a
// collection with its verifier log kept, BPF tokens, feature probes, and
// attaching one program to a hook (XDP with driver→generic fallback, TCX,
// netfilter for IPv4 and IPv6, cgroup), with atomic updates, pinning and
// re-opening pinned attachments. It knows hooks, never rules.
package bpf
