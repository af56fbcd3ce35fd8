package backend

import (
	"encoding/binary"
	"fmt"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bpfilter-go/bpfilter/internal/testenv"
	"github.com/bpfilter-go/bpfilter/internal/testpkt"
	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// pktTrafficPort marks the test's datagrams.
const pktTrafficPort = 9999

// TestPktMatchRealTraffic attaches a chain of CONTINUE rules on
// meta.pkttype and eth.saddr to netfilter PREROUTING and INPUT (and one on
// meta.pkttype to TCX ingress) of a test namespace B, sends B real frames
// (unicast, broadcast and multicast destination MACs, B's peer's and
// another source MAC) and, on netfilter, datagrams B sends itself to the
// IPv4 broadcast address, an IPv4 multicast group and the IPv6 all-nodes
// group (looped back with PACKET_LOOPBACK and no Ethernet header), and
// checks that each rule counts each packet exactly when ir.Eval says it
// matches.
func TestPktMatchRealTraffic(t *testing.T) {
	testenv.RequireBPF(t)
	for _, h := range []ir.Hook{ir.HookNFPreRouting, ir.HookNFLocalIn, ir.HookTCIngress} {
		t.Run(h.String(), func(t *testing.T) { pktTraffic(t, h) })
	}
}

func pktTraffic(t *testing.T, h ir.Hook) {
	a, b := testenv.NewNetns(t), testenv.NewNetns(t)
	v := testenv.NewVethPair(t, a, b, "198.18.0.1/24", "198.18.0.2/24")
	var macA, macB net.HardwareAddr
	for _, x := range []struct {
		ns   *testenv.Netns
		name string
		dst  *net.HardwareAddr
	}{{a, v.NameA, &macA}, {b, v.NameB, &macB}} {
		err := x.ns.Do(func() error {
			ifc, err := net.InterfaceByName(x.name)
			if err == nil {
				*x.dst = ifc.HardwareAddr
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	other := net.HardwareAddr{0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0x01}
	port := eqMatch(t, ir.UDPDport, fmt.Sprint(pktTrafficPort), false)
	rule := func(ms ...ir.Match) *ir.Rule {
		return &ir.Rule{Matches: append([]ir.Match{port}, ms...), Verdict: ir.Verdict{Kind: ir.Continue}}
	}
	mac := func(s string, neg bool) ir.Match { return eqMatch(t, ir.MetaMACSaddr, s, neg) }
	pt := func(s string, neg bool) ir.Match { return eqMatch(t, ir.MetaPktType, s, neg) }
	nf := h.Flavour() == ir.FlavourNF
	c := &ir.Chain{Name: "pkt", Hook: h, Policy: ir.Verdict{Kind: ir.Accept}, Rules: []*ir.Rule{
		rule(),
		rule(pt("0", false)), rule(pt("1", false)), rule(pt("2", false)), rule(pt("5", false)),
		rule(pt("0", true)), rule(pt("1", true)), rule(pt("2", true)),
	}}
	if nf {
		c.Rules = append(c.Rules,
			rule(mac(macA.String(), false)), rule(mac(macA.String(), true)),
			rule(mac(other.String(), false)), rule(mac(other.String(), true)),
			rule(ir.Match{Field: ir.MetaMACSaddr, Op: ir.OpEq, Value: []byte{0x02, 0xaa, 0, 0, 0, 0}, Mask: []byte{0xff, 0xff, 0, 0, 0, 0}}),
			rule(pt("1", false), mac(other.String(), false)),
		)
	}
	l := compileAndLoad(t, c)
	err := b.Do(func() error {
		prog := l.coll.Programs[ProgramName]
		if !nf {
			lk, err := link.AttachTCX(link.TCXOptions{Program: prog, Interface: v.IfindexB, Attach: ebpf.AttachTCXIngress})
			if err == nil {
				t.Cleanup(func() { lk.Close() })
			}
			return err
		}
		for _, pf := range []uint32{nfprotoIPv4, nfprotoIPv6} {
			lk, err := link.AttachNetfilter(link.NetfilterOptions{Program: prog, ProtocolFamily: link.NetfilterProtocolFamily(pf),
				Hook: link.NetfilterInetHook(nfHookNum[h]), Priority: -100})
			if err != nil {
				return err
			}
			t.Cleanup(func() { lk.Close() })
		}
		return nil
	})
	if err != nil {
		t.Fatalf("attach %s in the test namespace: %v", h, err)
	}
	b.Exec(t, "ip", "route", "add", "224.0.0.0/4", "dev", v.NameB)
	udp := func(src, dst string, sport uint16) []byte {
		return testpkt.IPv4{Src: testpkt.Addr(src), Dst: testpkt.Addr(dst), Proto: testpkt.ProtoUDP, TTL: 64}.
			Encode(testpkt.UDP{Sport: sport, Dport: pktTrafficPort}.Encode(1, 2, 3, 4))
	}
	type frameCase struct {
		name     string
		src, dst net.HardwareAddr
		ip       []byte
		pktType  uint8
	}
	bcast, mcast := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, net.HardwareAddr{0x01, 0, 0x5e, 0, 0, 9}
	frames := []frameCase{
		{"unicast from the peer", macA, macB, udp("198.18.0.1", "198.18.0.2", 1), ir.PacketHost},
		{"unicast from another MAC", other, macB, udp("198.18.0.1", "198.18.0.2", 2), ir.PacketHost},
		{"broadcast from another MAC", other, bcast, udp("198.18.0.1", "198.18.0.255", 3), ir.PacketBroadcast},
		{"multicast from the peer", macA, mcast, udp("198.18.0.1", "224.0.0.9", 4), ir.PacketMulticast},
	}
	var mcastConn *net.UDPConn
	if err := b.Do(func() error {
		ifc, err := net.InterfaceByName(v.NameB)
		if err != nil {
			return err
		}
		mcastConn, err = net.ListenMulticastUDP("udp4", ifc, &net.UDPAddr{IP: net.IPv4(224, 0, 0, 9), Port: pktTrafficPort})
		return err
	}); err != nil {
		t.Fatalf("join 224.0.0.9 in B: %v", err)
	}
	t.Cleanup(func() { mcastConn.Close() })
	for _, f := range frames {
		frame := append(ethHeader(f.dst, f.src), f.ip...)
		p := &ir.Packet{Data: f.ip, L3Proto: ir.EthPIP, PktType: f.pktType, MACHeader: ethHeader(f.dst, f.src)}
		if !nf {
			p = &ir.Packet{Data: frame, L2: true, PktType: f.pktType}
		}
		pktTrafficCheck(t, l, c, f.name, p, func() error { return sendFrame(a, v.IfindexA, f.dst, frame) })
	}
	if !nf {
		// Looped-back skbs reach TC ingress without an Ethernet header.
		return
	}
	// Datagrams B sends to itself: looped back (PACKET_LOOPBACK) with the
	// MAC header at the network header, which xt_mac refuses.
	for _, x := range []struct {
		name, dst string
		sport     uint16
	}{{"looped broadcast", "198.18.0.255", 7001}, {"looped multicast", "224.0.0.9", 7002}} {
		p := &ir.Packet{Data: udp("198.18.0.2", x.dst, x.sport), L3Proto: ir.EthPIP, PktType: ir.PacketLoopback}
		pktTrafficCheck(t, l, c, x.name, p, func() error { return sendLocal(b, x.dst, x.sport) })
	}
	// IPv6: xt_pkttype reads every looped-back IPv6 packet as multicast.
	udp6 := testpkt.IPv6{Src: testpkt.Addr("fe80::1"), Dst: testpkt.Addr("ff02::1"), NextHdr: testpkt.ProtoUDP, HopLimit: 1}.
		Encode(testpkt.UDP{Sport: 7003, Dport: pktTrafficPort}.Encode(1, 2, 3, 4))
	p := &ir.Packet{Data: udp6, L3Proto: ir.EthPIPv6, PktType: ir.PacketLoopback}
	pktTrafficCheck(t, l, c, "looped IPv6 multicast", p, func() error { return sendLocal6(b, v.IfindexB, 7003) })
}

// sendLocal6 sends one UDP datagram from ns to ff02::1 on interface
// ifindex from source port sport.
func sendLocal6(ns *testenv.Netns, ifindex int, sport uint16) error {
	return ns.Do(func() error {
		fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_IF, ifindex); err != nil {
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrInet6{Port: int(sport)}); err != nil {
			return err
		}
		to := &unix.SockaddrInet6{Port: pktTrafficPort, Addr: [16]byte(testpkt.Addr("ff02::1").AsSlice()), ZoneId: uint32(ifindex)}
		return unix.Sendto(fd, []byte{1, 2, 3, 4}, 0, to)
	})
}

func ethHeader(dst, src net.HardwareAddr) []byte {
	hdr := append(append(append([]byte(nil), dst...), src...), 0, 0)
	binary.BigEndian.PutUint16(hdr[12:], ir.EthPIP)
	return hdr
}

// pktTrafficCheck sends one packet and compares the rules whose counters
// moved with ir.Eval's hits; it waits (bounded) for rule 0, which every
// test datagram matches, to count it.
func pktTrafficCheck(t *testing.T, l *loaded, c *ir.Chain, name string, p *ir.Packet, send func() error) {
	t.Helper()
	before := l.counters(t)
	if err := send(); err != nil {
		t.Fatalf("%s: send: %v", name, err)
	}
	var after []Counter
	for i := 0; i < 200; i++ {
		after = l.counters(t)
		if after[0].Packets > before[0].Packets {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	res := ir.Eval(nil, c, p)
	want := make([]uint64, len(c.Rules))
	for _, ht := range res.Hits {
		want[ht.Rule]++
	}
	if want[0] != 1 {
		t.Fatalf("%s: ir.Eval does not match the marker rule: the model packet is wrong", name)
	}
	for i := range c.Rules {
		if d := after[i].Packets - before[i].Packets; d != want[i] {
			t.Errorf("%s: rule %d (%s): counted %d, ir.Eval says %d", name, i, ruleSummary(c, c.Rules[i]), d, want[i])
		}
	}
}

// sendFrame sends an Ethernet frame on interface ifindex of ns.
func sendFrame(ns *testenv.Netns, ifindex int, dst net.HardwareAddr, frame []byte) error {
	return ns.Do(func() error {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("packet socket: %w", err)
		}
		defer unix.Close(fd)
		to := &unix.SockaddrLinklayer{Ifindex: ifindex, Protocol: 0x0008, Halen: 6}
		copy(to.Addr[:], dst)
		return unix.Sendto(fd, frame, 0, to)
	})
}

// sendLocal sends one UDP datagram from ns to dst (broadcast allowed)
// from source port sport, with the payload of the model packet.
func sendLocal(ns *testenv.Netns, dst string, sport uint16) error {
	return ns.Do(func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_BROADCAST, 1); err != nil {
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrInet4{Port: int(sport), Addr: [4]byte{198, 18, 0, 2}}); err != nil {
			return err
		}
		to := &unix.SockaddrInet4{Port: pktTrafficPort, Addr: [4]byte(testpkt.Addr(dst).AsSlice())}
		return unix.Sendto(fd, []byte{1, 2, 3, 4}, 0, to)
	})
}
