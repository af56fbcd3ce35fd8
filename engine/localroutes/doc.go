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
//
// IPv6 (mirror6.go, build6.go): for ip6tables -m addrtype LOCAL, ANYCAST
// and UNREACHABLE the Mirror also dumps the IPv6 routes (local and main
// tables), addresses and policy rules, follows RTNLGRP_IPV6_ROUTE,
// RTNLGRP_IPV6_IFADDR and RTNLGRP_IPV6_RULE, and writes Build6's entries
// to every backend.AddrType6Map it holds. Relied on from the kernel
// sources (xt_addrtype match_lookup_rt6, ip6_route_output, fib6 rules):
// the lookup is ip6_route_output for the address with the limiting device
// as output interface (which then must be the route's nexthop device,
// RT6_LOOKUP_F_IFACE, falling back to shorter prefixes and higher
// metrics); the default rules visit the local table, then the main table,
// throw routes continuing; no route, or a route whose dst carries an
// error (unreachable, blackhole, prohibit, and non-local routes through
// lo, which fib6_is_reject turns into reject routes), answers UNREACHABLE
// alone; unlimited, a local route answers LOCAL; limited, an address
// assigned to the limiting device and not tentative (nf_ipv6_chk_addr,
// strict) answers LOCAL; ipv6_anycast_destination (RTF_ANYCAST, set only
// on addrconf's anycast routes, or the prefix address of a gateway-less
// route shorter than /127) answers ANYCAST. Not followed: policy rules
// other than the defaults (logged, Mirror.Warning6), VRFs, source-specific
// routes, the neighbour-reachability preference among same-prefix routes,
// ignore_routes_with_linkdown.
package localroutes
