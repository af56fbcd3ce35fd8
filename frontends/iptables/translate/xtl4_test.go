package translate

import (
	"fmt"
	"testing"

	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
	"github.com/bpfilter-go/bpfilter/internal/testpkt"
	"github.com/bpfilter-go/bpfilter/ir"
)

// TestTCPUDPMatchOnFragments: tcp_mt and udp_mt are false on non-first
// fragments even when they test nothing else; `-p tcp` alone is not.
func TestTCPUDPMatchOnFragments(t *testing.T) {
	frag := func(proto uint8, off uint16, l4 []byte) *ir.Packet {
		ip := testpkt.IPv4{Src: testpkt.Addr("198.18.0.7"), Dst: testpkt.Addr("198.18.0.2"), Proto: proto, TTL: 64, FragOffset: off}
		return &ir.Packet{Data: ip.Encode(l4), L3Proto: ir.EthPIP}
	}
	tcp := testpkt.TCP{Sport: 9, Dport: 22, Flags: testpkt.SYN}.Encode()
	udp := testpkt.UDP{Sport: 9, Dport: 53}.Encode(1, 2, 3, 4)
	evalCases(t, abi.IPv4, `*filter
:INPUT ACCEPT [0:0]
-A INPUT -p tcp -m tcp -j DROP
-A INPUT -p udp -m udp --sport 0:65535 -j DROP
-A INPUT -p tcp -m tcp --tcp-flags NONE NONE -s 198.18.0.9 -j DROP
COMMIT
`, []evalCase{
		{"tcp", frag(ir.ProtoTCP, 0, tcp), ir.Drop},
		{"tcp fragment", frag(ir.ProtoTCP, 2, tcp), ir.Accept},
		{"udp", frag(ir.ProtoUDP, 0, udp), ir.Drop},
		{"udp fragment", frag(ir.ProtoUDP, 3, udp), ir.Accept},
	})
	evalCases(t, abi.IPv4, `*filter
:INPUT ACCEPT [0:0]
-A INPUT -p tcp -j DROP
COMMIT
`, []evalCase{
		{"-p tcp alone, fragment", frag(ir.ProtoTCP, 2, tcp), ir.Drop},
	})
	// Truncated headers: the kernel's match drops the packet where it
	// is reached (ACCEPT policy, so a DROP here is the hotdrop).
	trunc := func(proto uint8, n int) *ir.Packet { return frag(proto, 0, make([]byte, n)) }
	evalCases(t, abi.IPv4, `*filter
:INPUT ACCEPT [0:0]
-A INPUT -s 198.18.0.9 -p tcp -m tcp -j ACCEPT
-A INPUT -p tcp -m multiport --dports 5 -j ACCEPT
-A INPUT -p tcp -m tcp --dport 1 -j ACCEPT
-A INPUT -p udp -m udp --dport 1 -j ACCEPT
-A INPUT -p icmp -m icmp --icmp-type 8 -j ACCEPT
COMMIT
`, []evalCase{
		{"tcp 10 bytes", trunc(ir.ProtoTCP, 10), ir.Drop},
		{"tcp 19 bytes", trunc(ir.ProtoTCP, 19), ir.Drop},
		{"tcp fragoff 1", frag(ir.ProtoTCP, 1, tcp), ir.Drop},
		{"tcp fragoff 2", frag(ir.ProtoTCP, 2, tcp), ir.Accept},
		{"udp 4 bytes", trunc(ir.ProtoUDP, 4), ir.Drop},
		{"icmp 7 bytes", trunc(ir.ProtoICMP, 7), ir.Drop},
		{"icmp 8 bytes, type 0", trunc(ir.ProtoICMP, 8), ir.Accept},
		// multiport reads the ports from 4 bytes: it matches before tcp
		// hotdrops.
		{"multiport tcp 10 bytes, port 5", frag(ir.ProtoTCP, 0, []byte{0, 9, 0, 5, 0, 0, 0, 0, 0, 0}), ir.Accept},
	})
	rs, err := Table(restoreFilter(t, abi.IPv4, `*filter
:INPUT ACCEPT [0:0]
-A INPUT -p tcp -m tcp -j DROP
-A INPUT -p udp -m udp -j DROP
-A INPUT -p tcp -m tcp --dport 22 -j DROP
-A INPUT -p tcp -m multiport --dports 22,80 -j DROP
COMMIT
`), opts())
	if err != nil {
		t.Fatal(err)
	}
	c := rs.Chain("iptables.INPUT")
	// Rule 0 is the family guard of the iptables chain. Each xt match
	// starts with its construct; the fast form (what lookups are planned
	// from) is what the translation was before the construct.
	for i, want := range []struct {
		n    int
		kind ir.XTL4Kind
		fast string
	}{
		{2, ir.XTL4TCP, "[ip4.proto eq tcp tcp.sport eq 0/mask:0]"},
		{2, ir.XTL4UDP, "[ip4.proto eq udp udp.sport eq 0/mask:0]"},
		{3, ir.XTL4TCP, "[ip4.proto eq tcp tcp.dport eq 22]"},
		{3, ir.XTL4Multiport, ""},
	} {
		r := c.Rules[i+1]
		if got := len(r.Matches); got != want.n {
			t.Errorf("rule %d: %d matches %v, want %d", i, got, r.Matches, want.n)
			continue
		}
		if k, ok := ir.XTL4KindOf(&r.Matches[1]); !ok || k != want.kind {
			t.Errorf("rule %d: match 1 is %v, want the %s construct", i, r.Matches[1], want.kind)
		}
		if fast := fmt.Sprint(ir.XTL4FastRule(c, r).Matches); want.fast != "" && fast != want.fast {
			t.Errorf("rule %d: fast form %s, want %s", i, fast, want.fast)
		}
	}
}
