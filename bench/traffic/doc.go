// Package traffic is the side-by-side traffic benchmark: a generator
// namespace transmits 64-byte UDP frames over a veth pair into a device-
// under-test namespace whose firewall is, in turn, nothing, iptables-legacy,
// nft, or bpfilter on its various hooks, each with the same number of rules
// that do not match the traffic. The rate of packets reaching the DUT's UDP
// layer is measured, median of interleaved rounds.
//
// Frames are sent with BPF_PROG_TEST_RUN in XDP live-frame mode (an XDP_TX
// program on the generator's veth), so the generator costs almost nothing
// and the measured rate is bounded by the DUT's receive path. Only
// addresses of 198.18.0.0/15 inside namespaces the benchmark created are
// used.
package traffic
