# bpfilter demo ruleset (scripts/demo.sh, `make demo`).
# demo0 is the protected side of a veth pair, inside a throwaway namespace.

# XDP, before the kernel's stack: drop everything from one blocked peer
# address, count the pings of the others.
chain demo_xdp BF_HOOK_XDP{iface=demo0} ACCEPT
    set blocked (ip4.saddr) in {
        198.18.100.66
    }
    rule
        (ip4.saddr) in blocked
        counter
        DROP
    rule
        ip4.proto icmp
        counter
        ACCEPT

# Netfilter local-in: drop one UDP port, count another.
chain demo_input BF_HOOK_NF_LOCAL_IN{priorities=101-102} ACCEPT
    rule
        udp.dport 9999
        counter
        DROP
    rule
        udp.dport 7777
        counter
        ACCEPT
