// Package iptables implements the iptables 1.8 command line over the
// decoded tables of package frontends/iptables/abi: parsing of iptables,
// iptables-save and iptables-restore input into rules with the exact
// match and target blobs iptables-legacy produces, the table operations
// (-A -I -D -R -C -N -X -E -F -Z -P), and the -S, iptables-save and -L
// printers, with iptables' error messages and exit codes.
//
// The package works on an in-memory Tables value; where the tables come
// from (the kernel through package kernel, or the bpfilter daemon) is the
// caller's business.
package iptables
