// Package nfsemantics holds facts about netfilter that frontends and the
// daemon share when they run iptables semantics on BPF netfilter links.
//
// Connection tracking: a BPF netfilter program does not turn conntrack on
// in its network namespace (BPF_F_NETFILTER_IP_DEFRAG only enables
// defragmentation), so skb->_nfct stays 0 and every packet reads as
// INVALID unless something else holds a conntrack reference there. The
// kernel's way for a user of the namespace to hold one is any nftables
// expression that uses conntrack: its init calls nf_ct_netns_get. The
// table ConntrackKeeper declares such an expression in a regular chain
// that no hook calls, so it costs nothing per packet; deleting the table
// drops the reference. InstallConntrackKeeper and RemoveConntrackKeeper
// manage that table through nf_tables netlink (github.com/google/nftables):
// the daemon installs it in every namespace whose chains NeedsConntrack
// (daemon/conntrack.go); the e2e/iptdiff tests load the same table with
// nft -f.
package nfsemantics
