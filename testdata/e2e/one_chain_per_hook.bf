# One chain per hook, for the end-to-end test (e2e/traffic_test.go).
#
# Topology, built by the test in three private network namespaces:
#
#   client 198.18.0.1 ── 198.18.0.2 router 198.18.1.1 ── 198.18.1.2 server
#          fd00:198:18:0::1   ::2           fd00:198:18:1::1     ::2
#
# ${CLIENT_IF}, ${ROUTER_IN_IF}, ${SERVER_IF} and ${CGROUP} are replaced by
# the test (os.Expand) with the client's and server's veth ends, the
# router's client-side end, and a test cgroup the sending processes are
# cloned into. Each chain drops one UDP port (X01, and X03 over IPv6 where
# present) and accepts another (X02); the test sends every flow from the
# client to the server and checks deliveries and rule counters.

chain e2e_xdp BF_HOOK_XDP{iface=${SERVER_IF}} ACCEPT
    rule meta.l4_proto udp udp.dport 7101 counter DROP
    rule meta.l4_proto udp udp.dport 7102 counter ACCEPT
    rule meta.l3_proto ipv6 meta.l4_proto udp udp.dport 7103 counter DROP

chain e2e_tc_in BF_HOOK_TC_INGRESS{iface=${SERVER_IF}} ACCEPT
    rule meta.l4_proto udp udp.dport 7201 counter DROP
    rule meta.l4_proto udp udp.dport 7202 counter ACCEPT
    rule meta.l3_proto ipv6 meta.l4_proto udp udp.dport 7203 counter DROP

chain e2e_tc_out BF_HOOK_TC_EGRESS{iface=${CLIENT_IF}} ACCEPT
    rule meta.l4_proto udp udp.dport 7301 counter DROP
    rule meta.l4_proto udp udp.dport 7302 counter ACCEPT
    rule meta.l3_proto ipv6 meta.l4_proto udp udp.dport 7303 counter DROP

# Router: forwarded traffic crosses PRE_ROUTING, FORWARD and POST_ROUTING.
chain e2e_nf_pre BF_HOOK_NF_PRE_ROUTING{priorities=101-102} ACCEPT
    rule ip4.proto udp udp.dport 7401 counter DROP
    rule meta.l4_proto udp udp.dport 7402 counter ACCEPT
    rule ip6.nexthdr udp udp.dport 7403 counter DROP

# Server.
chain e2e_nf_in BF_HOOK_NF_LOCAL_IN{priorities=101-102} ACCEPT
    rule ip4.proto udp udp.dport 7501 counter DROP
    rule meta.l4_proto udp udp.dport 7502 counter ACCEPT
    rule ip6.nexthdr udp udp.dport 7503 counter DROP

# Router.
chain e2e_nf_fwd BF_HOOK_NF_FORWARD{priorities=101-102} ACCEPT
    rule ip4.proto udp udp.dport 7601 counter DROP
    rule meta.l4_proto udp udp.dport 7602 counter ACCEPT
    rule ip6.nexthdr udp udp.dport 7603 counter DROP

# Client: a drop on the way out fails the sender's send with EPERM.
chain e2e_nf_out BF_HOOK_NF_LOCAL_OUT{priorities=101-102} ACCEPT
    rule ip4.proto udp udp.dport 7701 counter DROP
    rule meta.l4_proto udp udp.dport 7702 counter ACCEPT
    rule ip6.nexthdr udp udp.dport 7703 counter DROP

# Router.
chain e2e_nf_post BF_HOOK_NF_POST_ROUTING{priorities=101-102} ACCEPT
    rule ip4.proto udp udp.dport 7801 counter DROP
    rule meta.l4_proto udp udp.dport 7802 counter ACCEPT
    rule ip6.nexthdr udp udp.dport 7803 counter DROP

# Client processes in ${CGROUP}: pings from the cgroup lose their IPv4
# echo replies on the way in; IPv6 echo replies are counted and accepted.
chain e2e_cg_in BF_HOOK_CGROUP_SKB_INGRESS{cgpath=${CGROUP}} ACCEPT
    rule ip4.proto icmp icmp.type echo-reply counter DROP
    rule meta.l4_proto icmpv6 icmpv6.type echo-reply counter ACCEPT

chain e2e_cg_out BF_HOOK_CGROUP_SKB_EGRESS{cgpath=${CGROUP}} ACCEPT
    rule meta.l4_proto udp udp.dport 7901 counter DROP
    rule meta.l4_proto udp udp.dport 7902 counter ACCEPT
    rule meta.l3_proto ipv6 meta.l4_proto udp udp.dport 7903 counter DROP

chain e2e_connect4 BF_HOOK_CGROUP_SOCK_ADDR_CONNECT4{cgpath=${CGROUP}} ACCEPT
    rule ip4.daddr 198.18.1.2 udp.dport 8101 counter DROP
    rule ip4.daddr 198.18.1.2 udp.dport 8102 counter ACCEPT

chain e2e_connect6 BF_HOOK_CGROUP_SOCK_ADDR_CONNECT6{cgpath=${CGROUP}} ACCEPT
    rule ip6.daddr fd00:198:18:1::2 udp.dport 8203 counter DROP
    rule ip6.daddr fd00:198:18:1::2 udp.dport 8202 counter ACCEPT

chain e2e_sendmsg4 BF_HOOK_CGROUP_SOCK_ADDR_SENDMSG4{cgpath=${CGROUP}} ACCEPT
    rule ip4.daddr 198.18.1.2 udp.dport 8301 counter DROP
    rule ip4.daddr 198.18.1.2 udp.dport 8302 counter ACCEPT

chain e2e_sendmsg6 BF_HOOK_CGROUP_SOCK_ADDR_SENDMSG6{cgpath=${CGROUP}} ACCEPT
    rule ip6.daddr fd00:198:18:1::2 udp.dport 8403 counter DROP
    rule ip6.daddr fd00:198:18:1::2 udp.dport 8402 counter ACCEPT

# No hook options: loaded, never attached, so its DROP rule never counts.
chain e2e_unattached BF_HOOK_TC_INGRESS ACCEPT
    rule meta.l4_proto udp counter DROP
