# A ruleset touching every part of the bfcli grammar, written untidily on
# purpose: the printer must give it back in canonical form.
chain xdp_in BF_HOOK_XDP{ifindex=1} ACCEPT
    set blocklist (ip4.saddr) in {
        192.0.2.1;  192.0.2.2
        198.18.0.10   # trailing comment
    }
    set services (ip4.daddr, tcp.dport) in { 198.18.0.1, 22; 198.18.0.1, 443; }
    set nets (ip6.snet) in { 2001:db8::/32; fe80::/10 }
    set empty (icmp.type) in {}
    rule (ip4.saddr) in blocklist counter DROP
    rule (ip4.daddr, tcp.dport) not in services log link,transport every 500ms DROP
    rule (ip6.snet) in nets CONTINUE
    rule
        ip4.proto icmp
        icmp.type echo-request
        icmp.code not 0
        log
        counter
        REDIRECT 1 out
    rule (icmpv6.type, icmpv6.code) in { echo-request, 0; 128, 1 } ACCEPT
    rule meta.l3_proto ipv6 ip6.nexthdr not hop ip6.dscp ef ip6.saddr ::1 ip6.daddr eq 2001:db8::1 DROP
    rule ip4.snet 10.1.2.3/8 ip4.dnet not 192.168.0.0/16 ip4.dscp af21 ip4.daddr 198.18.0.1 DROP
    rule meta.l4_proto udp udp.sport range 1024-65535 udp.dport 53 meta.probability 33.33% meta.flow_probability 50% ACCEPT
    rule tcp.flags eq SYN,ACK tcp.flags not any rst,fin tcp.flags all syn DROP
    rule meta.iface lo meta.sport 80 meta.dport range 1-1023 DROP

chain tc_out BF_HOOK_TC_EGRESS{iface=redir0} NEXT
    rule meta.mark 0x10 meta.flow_hash range 0x0-0xffff mark 0x20 counter REDIRECT redir1 in
    rule meta.flow_hash 7 ACCEPT

chain nf_in BF_HOOK_NF_LOCAL_IN{family=inet4,priorities=101-102} DROP
    rule ip4.proto tcp tcp.dport 22 counter ACCEPT

chain cg BF_HOOK_CGROUP_SKB_EGRESS{cgpath=/sys/fs/cgroup/test} ACCEPT
    rule mark 1 log internet ACCEPT

chain conn BF_HOOK_CGROUP_SOCK_ADDR_CONNECT6{cgpath=/sys/fs/cgroup/test} ACCEPT
    rule (ip6.daddr, tcp.dport) in { ::1, 80 } log every 1s counter DROP

chain loaded BF_HOOK_NF_FORWARD ACCEPT
