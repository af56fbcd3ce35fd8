// Package e2e holds bpfilter's end-to-end tests: real traffic through
// chains loaded and attached with package engine, in private network
// namespaces joined by veth pairs. The tests need root and a kernel with
// BPF links for every hook; they skip with the reason otherwise.
package e2e
