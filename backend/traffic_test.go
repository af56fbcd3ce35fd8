package backend

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/bpfilter-go/bpfilter/internal/testenv"
	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// TestRealTraffic attaches a chain that drops ICMP echo requests arriving
// on B's veth to the XDP, TCX ingress and netfilter LOCAL_IN hooks of a
// test namespace B, and pings B from A over IPv4 and IPv6: IPv4 pings must
// be dropped (and counted) and IPv6 pings must pass. Unlike test runs,
// real packets carry a real input device (netfilter state->in) and real
// skbs.
func TestRealTraffic(t *testing.T) {
	testenv.RequireBPF(t)
	testenv.RequireCommand(t, "ping")
	for _, h := range []ir.Hook{ir.HookXDP, ir.HookTCIngress, ir.HookNFLocalIn, ir.HookNFPreRouting} {
		t.Run(h.String(), func(t *testing.T) {
			a, b := testenv.NewNetns(t), testenv.NewNetns(t)
			v := testenv.NewVethPair(t, a, b, "198.18.0.1/24", "198.18.0.2/24")
			c := &ir.Chain{Name: "traffic", Hook: h, Policy: ir.Verdict{Kind: ir.Accept}, Rules: []*ir.Rule{
				{Matches: []ir.Match{eqMatch(t, ir.MetaIface, strconv.Itoa(v.IfindexB), false), eqMatch(t, ir.ICMPType, "8", false)},
					Verdict: ir.Verdict{Kind: ir.Drop}},
			}}
			l := compileAndLoad(t, c)
			prog := l.coll.Programs[ProgramName]
			err := b.Do(func() error {
				var lks []link.Link
				var err error
				switch h.Flavour() {
				case ir.FlavourXDP:
					var lk link.Link
					lk, err = link.AttachXDP(link.XDPOptions{Program: prog, Interface: v.IfindexB})
					lks = append(lks, lk)
				case ir.FlavourTC:
					var lk link.Link
					lk, err = link.AttachTCX(link.TCXOptions{Program: prog, Interface: v.IfindexB, Attach: ebpf.AttachTCXIngress})
					lks = append(lks, lk)
				case ir.FlavourNF:
					for _, pf := range []uint32{nfprotoIPv4, nfprotoIPv6} {
						var lk link.Link
						lk, err = link.AttachNetfilter(link.NetfilterOptions{Program: prog, ProtocolFamily: link.NetfilterProtocolFamily(pf), Hook: link.NetfilterInetHook(nfHookNum[h]), Priority: -100})
						if err != nil {
							break
						}
						lks = append(lks, lk)
					}
				}
				for _, lk := range lks {
					if lk != nil {
						t.Cleanup(func() { lk.Close() })
					}
				}
				return err
			})
			if err != nil {
				t.Fatalf("attach %s in the test namespace: %v", h, err)
			}
			if _, err := a.Run("ping", "-c", "1", "-W", "1", v.AddrB.Addr().String()); err == nil {
				t.Errorf("IPv4 ping went through the chain that drops it")
			}
			a.Exec(t, "ping", "-6", "-c", "1", "-W", "2", v.Addr6B.Addr().String())
			ctr := l.counters(t)
			if ctr[0].Packets == 0 || ctr[0].Bytes == 0 {
				t.Errorf("drop rule counter = %+v, want the dropped echo request", ctr[0])
			}
			if ctr[1].Packets == 0 {
				t.Errorf("policy counter = %+v, want the IPv6 ping", ctr[1])
			}
		})
	}
}

// TestCgroupSkbEgressTraffic attaches a cgroup_skb egress chain to a test
// cgroup and sends UDP from a process in it, inside a test namespace: the
// datagrams the chain drops fail with EPERM, the others leave, and the
// counters agree.
func TestCgroupSkbEgressTraffic(t *testing.T) {
	testenv.RequireBPF(t)
	ns := testenv.NewNetns(t)
	cg := testenv.NewCgroup(t)
	ns.Exec(t, "ip", "addr", "add", "198.18.0.1/15", "dev", "lo")
	c := &ir.Chain{Name: "egress", Hook: ir.HookCgroupSkbEgress, Policy: ir.Verdict{Kind: ir.Accept}, Rules: []*ir.Rule{
		{Matches: []ir.Match{eqMatch(t, ir.UDPDport, "53", false), eqMatch(t, ir.IP4Dnet, "198.18.0.0/24", false)}, Verdict: ir.Verdict{Kind: ir.Drop}},
	}}
	l := compileAndLoad(t, c)
	lk, err := link.AttachCgroup(link.CgroupOptions{Path: cg, Attach: ebpf.AttachCGroupInetEgress, Program: l.coll.Programs[ProgramName]})
	if err != nil {
		t.Fatalf("attach to test cgroup: %v", err)
	}
	t.Cleanup(func() { lk.Close() })
	for _, tc := range []struct {
		dst  string
		drop bool
	}{{"198.18.0.2:53", true}, {"198.18.0.2:54", false}, {"198.18.1.2:53", false}} {
		before := l.counters(t)
		out, err := ns.RunInCgroup(cg, testenv.UDPSendCommand(netip.MustParseAddrPort(tc.dst), 1, false)...)
		dropped := err != nil && strings.Contains(out, "operation not permitted")
		if err != nil && !dropped {
			t.Fatalf("send to %s: %v", tc.dst, err)
		}
		if dropped != tc.drop {
			t.Errorf("send to %s: dropped=%v, want %v", tc.dst, dropped, tc.drop)
		}
		after := l.counters(t)
		if d := after[0].Packets - before[0].Packets; d != b2u(tc.drop) {
			t.Errorf("send to %s: drop rule counted %d packets", tc.dst, d)
		}
	}
}
