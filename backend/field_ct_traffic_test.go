package backend

import (
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/bpfilter-go/bpfilter/internal/testenv"
	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/cilium/ebpf/link"
)

// TestCtEntryTraffic attaches a netfilter LOCAL_IN chain of counting
// rules on the conntrack entry fields in a namespace B where conntrack is
// active, makes B start UDP flows to A (IPv4 and IPv6) that A answers
// twice, and has A start three flows of its own. Each rule's counter must
// equal what ir.Eval gives for the same packets with the entries conntrack
// builds for them (replies: REPLY direction, SEEN_REPLY and CONFIRMED,
// about 30 s left; A's flows: NEW, ORIGINAL, unconfirmed).
func TestCtEntryTraffic(t *testing.T) {
	testenv.RequireBPF(t)
	testenv.RequireCommand(t, "nft")
	a, b := testenv.NewNetns(t), testenv.NewNetns(t)
	v := testenv.NewVethPair(t, a, b, "198.18.0.1/24", "198.18.0.2/24")
	// Keep conntrack active in B (see compat/nfsemantics).
	cmd := exec.Command("nsenter", "--net="+b.Path, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader("table inet ct_entry_test {\nchain keep {\nct state new\n}\n}\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v: %s", err, out)
	}
	udp := []ir.Match{{Field: ir.MetaL4Proto, Op: ir.OpEq, Value: []byte{ir.ProtoUDP}}}
	port := ir.KindPort.UintValue
	a4, b4 := v.AddrA.Addr().AsSlice(), v.AddrB.Addr().AsSlice()
	a6 := v.Addr6A.Addr().AsSlice()
	ms := []ir.Match{
		{Field: ir.CtDir, Op: ir.OpEq, Value: []byte{ir.CtDirReply}},
		{Field: ir.CtDir, Op: ir.OpEq, Value: []byte{ir.CtDirOriginal}},
		{Field: ir.CtOrigSport, Op: ir.OpEq, Value: port(5000)},
		{Field: ir.CtOrigDport, Op: ir.OpRange, Negate: true, Value: port(6000), High: port(6001)},
		{Field: ir.CtReplSport, Op: ir.OpEq, Value: port(6000)},
		{Field: ir.CtReplDport, Op: ir.OpRange, Value: port(4000), High: port(5000)},
		{Field: ir.CtOrigSaddr4, Op: ir.OpEq, Value: b4},
		{Field: ir.CtOrigDaddr4, Op: ir.OpEq, Value: []byte{198, 18, 0, 0}, Mask: []byte{255, 255, 255, 0}},
		{Field: ir.CtReplSaddr4, Op: ir.OpEq, Negate: true, Value: a4},
		{Field: ir.CtReplDaddr4, Op: ir.OpEq, Value: b4},
		{Field: ir.CtReplSaddr6, Op: ir.OpEq, Value: a6},
		{Field: ir.CtOrigDaddr6, Op: ir.OpEq, Negate: true, Value: a6},
		{Field: ir.CtStatus, Op: ir.OpAny, Value: ir.KindCtStatus.UintValue(ir.CtStatusSeenReply)},
		{Field: ir.CtStatus, Op: ir.OpAny, Negate: true, Value: ir.KindCtStatus.UintValue(ir.CtStatusConfirmed)},
		{Field: ir.CtExpire, Op: ir.OpRange, Value: ir.KindU32.UintValue(20), High: ir.KindU32.UintValue(40)},
		{Field: ir.CtExpire, Op: ir.OpEq, Negate: true, Value: ir.KindU32.UintValue(1000)},
		{Field: ir.CtProto, Op: ir.OpEq, Value: []byte{ir.ProtoUDP}},
		{Field: ir.CtProto, Op: ir.OpEq, Negate: true, Value: []byte{ir.ProtoUDP}},
	}
	c := &ir.Chain{Name: "ct_entry", Hook: ir.HookNFLocalIn, Policy: ir.Verdict{Kind: ir.Accept}}
	for i := range ms {
		c.Rules = append(c.Rules, &ir.Rule{Matches: append(append([]ir.Match(nil), udp...), ms[i]), Verdict: ir.Verdict{Kind: ir.Continue}})
	}
	l := compileAndLoad(t, c)
	prog := l.coll.Programs[ProgramName]
	err := b.Do(func() error {
		for _, pf := range []uint32{nfprotoIPv4, nfprotoIPv6} {
			lk, err := link.AttachNetfilter(link.NetfilterOptions{Program: prog, ProtocolFamily: link.NetfilterProtocolFamily(pf), Hook: link.NetfilterInetHook(nfHookNum[ir.HookNFLocalIn]), Priority: -100})
			if err != nil {
				return err
			}
			t.Cleanup(func() { lk.Close() })
		}
		return nil
	})
	if err != nil {
		t.Fatalf("attach: %v", err)
	}

	// The packets B receives, modelled for ir.Eval.
	var model []*ir.Packet
	tuple := func(s, d netip.Addr, sp, dp uint16) ir.CtTuple {
		var tp ir.CtTuple
		copy(tp.Src[:], s.AsSlice())
		copy(tp.Dst[:], d.AsSlice())
		tp.Sport, tp.Dport = sp, dp
		return tp
	}
	const entry = 0x1000
	for _, fam := range [][2]netip.Addr{{v.AddrA.Addr(), v.AddrB.Addr()}, {v.Addr6A.Addr(), v.Addr6B.Addr()}} {
		aAddr, bAddr := fam[0], fam[1]
		srv, err := a.ListenUDP(netip.AddrPortFrom(aAddr, 6000))
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		cl, err := b.ListenUDP(netip.AddrPortFrom(bAddr, 5000))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		if _, err := cl.WriteToUDP([]byte("hello"), net.UDPAddrFromAddrPort(netip.AddrPortFrom(aAddr, 6000))); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64)
		srv.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, from, err := srv.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("A did not receive B's datagram: %v", err)
		}
		for i := 0; i < 2; i++ {
			if _, err := srv.WriteToUDPAddrPort([]byte("reply"), from); err != nil {
				t.Fatal(err)
			}
			cl.SetReadDeadline(time.Now().Add(2 * time.Second))
			if _, _, err := cl.ReadFromUDPAddrPort(buf); err != nil {
				t.Fatalf("reply %d did not reach B: %v", i, err)
			}
			model = append(model, udpPacket(aAddr.Is6(), entry|3, ir.CtEntry{
				Status: ir.CtStatusSeenReply | ir.CtStatusConfirmed, Expire: 30,
				Orig: tuple(bAddr, aAddr, 5000, 6000), Reply: tuple(aAddr, bAddr, 6000, 5000),
			}))
		}
	}
	// A starts three IPv4 flows to B's port 5001 (no listener: B answers
	// with port unreachable, which leaves through OUTPUT).
	for i := uint16(0); i < 3; i++ {
		s, err := a.ListenUDP(netip.AddrPortFrom(v.AddrA.Addr(), 7777+i))
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.WriteToUDPAddrPort([]byte("new"), netip.AddrPortFrom(v.AddrB.Addr(), 5001))
		s.Close()
		if err != nil {
			t.Fatal(err)
		}
		model = append(model, udpPacket(false, entry|2, ir.CtEntry{
			Orig: tuple(v.AddrA.Addr(), v.AddrB.Addr(), 7777+i, 5001), Reply: tuple(v.AddrB.Addr(), v.AddrA.Addr(), 5001, 7777+i),
		}))
	}
	time.Sleep(200 * time.Millisecond)
	ctr := l.counters(t)
	for i, r := range c.Rules {
		want := 0
		for _, p := range model {
			pp := ir.Parse(p)
			if ir.RuleMatches(c, r, p, &pp) {
				want++
			}
		}
		t.Logf("rule %d (%s): %d packets", i, &r.Matches[1], ctr[i].Packets)
		if got := int(ctr[i].Packets); got != want {
			t.Errorf("rule %d (%s): counted %d packets, ir.Eval says %d", i, &r.Matches[1], got, want)
		}
	}
}

// udpPacket models a UDP datagram B receives with conntrack info nfct
// and entry e: its addresses and ports are the tuple of its direction.
func udpPacket(v6 bool, nfct uint64, e ir.CtEntry) *ir.Packet {
	tp := e.Orig
	if nfct&ir.NFCTInfoMask >= 3 {
		tp = e.Reply
	}
	seg := []byte{byte(tp.Sport >> 8), byte(tp.Sport), byte(tp.Dport >> 8), byte(tp.Dport), 0, 8, 0, 0}
	p := &ir.Packet{NFCT: nfct, CtProto: ir.ProtoUDP, Ct: e, L3Proto: ir.EthPIP}
	if v6 {
		h := make([]byte, 40)
		h[0], h[5], h[6], h[7] = 0x60, 8, ir.ProtoUDP, 64
		copy(h[8:24], tp.Src[:])
		copy(h[24:40], tp.Dst[:])
		p.L3Proto, p.Data = ir.EthPIPv6, append(h, seg...)
		return p
	}
	h := make([]byte, 20)
	h[0], h[3], h[8], h[9] = 0x45, 28, 64, ir.ProtoUDP
	copy(h[12:16], tp.Src[:4])
	copy(h[16:20], tp.Dst[:4])
	p.Data = append(h, seg...)
	return p
}
