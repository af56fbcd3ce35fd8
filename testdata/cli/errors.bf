# Every line below holds one mistake; the parser reports them all, each
# at the word that is wrong.
chain typos BF_HOOK_XDP{ifindex=1} ACCEPT
    set blocked (ip4.saddr) in { 192.0.2.1; 192.0.2.300 }
    rule ip4.sadr eq 192.0.2.1 DROP
    rule tcp.dport range 2000-1000 DROP
    rule meta.mark eq 1 DROP
    rule ip4.proto tcp counter counter DROP
    rule (ip4.daddr) in blocked DROP
    rule tcp.flags any syn,ack,bogus DROP
    rule log every 1year DROP
    rule ip4.proto udp DROPP

chain bad_hook BF_HOOK_TC_INGRES ACCEPT

chain bad_policy BF_HOOK_TC_INGRESS{cgpath=/sys/fs/cgroup} CONTINUE
