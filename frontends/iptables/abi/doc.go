// Package abi models the kernel's iptables request ABI: the ipt_replace and
// ip6t_replace blobs with their ipt_entry/ip6t_entry lists, xt match and
// target records, standard and ERROR targets, hook entry points and
// underflows, and the get-info, get-entries and add-counters requests.
//
// Every kernel struct is described once in layout.go, with sizes and
// offsets verified against the uapi headers by a test that compiles a C
// program. Decode checks a blob the way the kernel's translate_table does
// and turns it into a Table of chains and rules; Encode produces the exact
// layout that iptables-legacy (libiptc) hands to the kernel.
package abi
