package backend

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/bpfilter-go/bpfilter/internal/testenv"
	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/cilium/ebpf/link"
)

// TestSockAddrHooks attaches chains to a test cgroup and sends UDP
// datagrams from a process in that cgroup, inside a test network
// namespace: connect() for the connect hooks, sendto() for the sendmsg
// hooks. BPF_PROG_TEST_RUN does not run cgroup sock_addr programs, so this
// is the way to exercise them. Whether the send was refused (EPERM) must
// agree with ir.Eval, and the counters with its hits.
func TestSockAddrHooks(t *testing.T) {
	testenv.RequireBPF(t)
	ns := testenv.NewNetns(t)
	cg := testenv.NewCgroup(t)
	ns.Exec(t, "ip", "addr", "add", "198.18.0.1/15", "dev", "lo")
	local6, err := testenv.IPv6For(netip.MustParsePrefix("198.18.0.1/15"))
	if err != nil {
		t.Fatal(err)
	}
	// A /32 so that every destination below routes through lo.
	ns.Exec(t, "ip", "addr", "add", netip.PrefixFrom(local6.Addr(), 32).String(), "dev", "lo")
	dst4 := []netip.AddrPort{
		netip.MustParseAddrPort("198.18.0.2:53"),
		netip.MustParseAddrPort("198.18.0.2:5353"),
		netip.MustParseAddrPort("198.18.7.9:53"),
		netip.MustParseAddrPort("198.19.0.3:80"),
	}
	var dst6 []netip.AddrPort
	for _, d := range dst4 {
		p, err := testenv.IPv6For(netip.PrefixFrom(d.Addr(), 32))
		if err != nil {
			t.Fatal(err)
		}
		dst6 = append(dst6, netip.AddrPortFrom(p.Addr(), d.Port()))
	}
	for _, h := range []ir.Hook{ir.HookCgroupSockAddrConnect4, ir.HookCgroupSockAddrSendmsg4, ir.HookCgroupSockAddrConnect6, ir.HookCgroupSockAddrSendmsg6} {
		t.Run(h.String(), func(t *testing.T) {
			dsts, net := dst4, "198.18.0.0/24"
			if h.SockAddrFamily() == 6 {
				dsts = dst6
				p, _ := testenv.IPv6For(netip.MustParsePrefix("198.18.7.9/32"))
				net = netip.PrefixFrom(p.Addr(), 64).Masked().String()
			}
			dnet, saddr := ir.IP4Dnet, ir.IP4Saddr
			if h.SockAddrFamily() == 6 {
				dnet, saddr = ir.IP6Dnet, ir.IP6Saddr
			}
			dport := eqMatch(t, ir.UDPDport, "53", false)
			c := &ir.Chain{Name: "sockaddr", Hook: h, Policy: ir.Verdict{Kind: ir.Accept}, Rules: []*ir.Rule{
				{Matches: []ir.Match{eqMatch(t, ir.UDPDport, "1", false)}, Verdict: ir.Verdict{Kind: ir.Drop}},
				{Matches: []ir.Match{eqMatch(t, ir.MetaL4Proto, "17", false), eqMatch(t, ir.MetaDport, "5353", false)}, Log: &ir.Log{}, Verdict: ir.Verdict{Kind: ir.Continue}},
				{Matches: []ir.Match{eqMatch(t, dnet, net, true), dport}, Verdict: ir.Verdict{Kind: ir.Drop}},
				{Matches: []ir.Match{eqMatch(t, ir.MetaDport, "80", false), eqMatch(t, ir.MetaL3Proto, "ipv4", false)}, Verdict: ir.Verdict{Kind: ir.Drop}},
			}}
			// A set keyed on (destination address, UDP port) denies dsts[1].
			daddr := ir.IP4Daddr
			if h.SockAddrFamily() == 6 {
				daddr = ir.IP6Daddr
			}
			key := append(dsts[1].Addr().AsSlice(), byte(dsts[1].Port()>>8), byte(dsts[1].Port()))
			c.Sets = []*ir.Set{{Name: "deny", Key: []ir.Field{daddr, ir.UDPDport}, Elems: []ir.SetElem{{Key: key}}}}
			c.Rules = append(c.Rules, &ir.Rule{Matches: []ir.Match{{Op: ir.OpIn, Set: "deny"}}, Verdict: ir.Verdict{Kind: ir.Drop}})
			if !h.IsSendmsg() {
				// tcp.dport is valid on connect hooks only; UDP never matches it.
				c.Rules[0].Matches[0] = eqMatch(t, ir.TCPDport, "53", false)
			} else {
				zero := "0.0.0.0"
				if h.SockAddrFamily() == 6 {
					zero = "::"
				}
				c.Rules = append(c.Rules, &ir.Rule{Matches: []ir.Match{eqMatch(t, saddr, zero, true)}, Log: &ir.Log{}, Verdict: ir.Verdict{Kind: ir.Drop}})
			}
			// One CONTINUE rule per matcher case valid on the hook, first,
			// so that every send checks them all through the counters.
			var probes []*ir.Rule
			for _, m := range matcherCases(t) {
				if m.Field.ValidOn(h) {
					probes = append(probes, &ir.Rule{Matches: []ir.Match{m}, Verdict: ir.Verdict{Kind: ir.Continue}})
				}
			}
			c.Rules = append(probes, c.Rules...)
			l := compileAndLoad(t, c)
			lk, err := link.AttachCgroup(link.CgroupOptions{Path: cg, Attach: l.prog.Spec.Programs[ProgramName].AttachType, Program: l.coll.Programs[ProgramName]})
			if err != nil {
				t.Fatalf("attach to test cgroup: %v", err)
			}
			t.Cleanup(func() { lk.Close() })
			outcomes := map[bool]int{}
			hit, miss := map[string]bool{}, map[string]bool{}
			for _, d := range dsts {
				sock := &ir.SockAddr{Family: h.SockAddrFamily(), Proto: ir.ProtoUDP, Dst: d.Addr().AsSlice(), DstPort: d.Port()}
				if h.IsSendmsg() {
					sock.Src = make([]byte, len(sock.Dst))
				}
				res := ir.Eval(nil, c, &ir.Packet{Sock: sock})
				before := l.counters(t)
				out, err := ns.RunInCgroup(cg, testenv.UDPSendCommand(d, 1, !h.IsSendmsg())...)
				denied := err != nil && strings.Contains(out, "operation not permitted")
				if err != nil && !denied {
					t.Fatalf("send to %s: %v", d, err)
				}
				if wantDenied := res.Verdict.Kind == ir.Drop; denied != wantDenied {
					t.Errorf("send to %s: denied=%v, ir.Eval says %s (rule %d)", d, denied, res.Verdict, res.Rule)
				}
				outcomes[denied]++
				after := l.counters(t)
				matched := map[int]bool{}
				for _, ht := range res.Hits {
					matched[ht.Rule] = true
				}
				for ri, r := range c.Rules {
					if n := after[ri].Packets - before[ri].Packets; n != b2u(matched[ri]) {
						t.Errorf("send to %s: rule %d (%s): counter moved by %d, ir.Eval says matched=%v", d, ri, ruleSummary(c, r), n, matched[ri])
					}
					if ri < len(probes) && !strings.Contains(r.Matches[0].Field.String(), "saddr") && !strings.Contains(r.Matches[0].Field.String(), "snet") &&
						r.Matches[0].Field != ir.TCPDport { // sources are unspecified, the helper sends UDP
						key := ruleKey(c, r)
						hit[key] = hit[key] || matched[ri]
						miss[key] = miss[key] || !matched[ri]
					}
				}
			}
			for k := range hit {
				if !hit[k] || !miss[k] {
					t.Errorf("%s: hit=%v miss=%v over the destinations; the test cannot tell right from wrong", k, hit[k], miss[k])
				}
			}
			if outcomes[true] == 0 || outcomes[false] == 0 {
				t.Errorf("outcomes denied/allowed = %d/%d: the test needs both", outcomes[true], outcomes[false])
			}
			var logged bool
			for _, e := range l.readLogs(t) {
				if e.Rule == len(probes)+1 && e.DstPort == 5353 && e.PID != 0 && e.Comm != "" {
					logged = true
				}
			}
			if !logged {
				t.Errorf("no log record for the datagram to port 5353")
			}
		})
	}
}
