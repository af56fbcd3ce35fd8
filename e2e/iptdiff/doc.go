// Package iptdiff holds the differential test of the iptables frontend:
// the same ruleset is loaded with iptables-legacy into one network
// namespace and translated (frontends/iptables/translate) and loaded with
// the engine into another; the same packets are sent to both, and the
// packets each namespace delivers to its raw sockets must be the same.
//
// The package has only tests; they need root, BPF and iptables-legacy.
package iptdiff
