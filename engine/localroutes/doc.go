// Package localroutes mirrors, into BPF maps, the routes the kernel's
// IPv4 address type lookup sees in one network namespace, for the
// address type fields of package ir (iptables -m addrtype).
//
// A netfilter BPF program cannot call bpf_fib_lookup, so the backend looks
// addresses up in an LPM trie (backend.AddrTypeMap) instead, and a Mirror
// keeps that trie equal to what inet_dev_addr_type (net/ipv4/fib_frontend.c)
// would find: it dumps the routing tables over rtnetlink (RTM_GETROUTE),
// builds the entries with Build and rewrites the maps it holds; it then
// listens to route, address, link and rule notifications
// (RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV4_IFADDR, RTNLGRP_LINK,
// RTNLGRP_IPV4_RULE) and dumps again after every burst, and every Resync
// interval as a safety net (a link going down flushes its IPv4 routes
// without a route notification).
//
// What the lookup sees, as relied on from the kernel sources:
//
//   - __inet_dev_addr_type looks the address up in the table
//     RT_TABLE_LOCAL with fib_table_lookup (not through the policy rules),
//     answering BROADCAST for 0.0.0.0/8 and 255.255.255.255 and MULTICAST
//     for 224.0.0.0/4 first, UNICAST when nothing matches or when the
//     lookup fails, and, with a device, UNICAST when the route's first
//     nexthop device is another one.
//   - fib_table_lookup fails (so: UNICAST) on routes of an error type
//     (blackhole, unreachable, prohibit, throw, nat, xresolve: fib_props'
//     error), skips routes with a TOS (the flow has none) and dead routes,
//     and takes the longest prefix among the others.
//   - While no policy routing rule was ever added in the namespace, the
//     local table shares its trie with the main table (fib_trie's
//     local/main merge, undone for good by fib_unmerge when a rule is
//     added), so main-table routes are found too. The merge cannot be
//     read over rtnetlink (dumps filter by table id); /proc/net/fib_triestat
//     shows it: the Prefixes count of its Local: trie (route entries) is
//     then the number of local plus main routes dumped, and exactly the
//     local ones otherwise.
//     Main-table routes matter only when they answer something other
//     than UNICAST (local, broadcast, anycast, multicast routes) or sit
//     inside such a route or a local-table route; Build keeps just those,
//     so a large main table costs nothing.
//
// Not mirrored (documented differences): with an interface limit on a
// device enslaved to a VRF the kernel uses the VRF's table
// (l3mdev_fib_table); routes skipped for a missing carrier under
// ignore_routes_with_linkdown; of two routes for the same prefix in the
// local and main tables the local one is taken. The map lags a change by
// the notification delay (milliseconds).
package localroutes
