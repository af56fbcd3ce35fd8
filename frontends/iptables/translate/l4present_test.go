package translate

import (
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
	rs, err := Table(restoreFilter(t, abi.IPv4, `*filter
:INPUT ACCEPT [0:0]
-A INPUT -p tcp -m tcp -j DROP
-A INPUT -p udp -m udp -j DROP
-A INPUT -p tcp -m tcp --dport 22 -j DROP
COMMIT
`), opts())
	if err != nil {
		t.Fatal(err)
	}
	c := rs.Chain("iptables.INPUT")
	// Rule 0 is the family guard of the iptables chain.
	for i, want := range []int{2, 2, 2} {
		if got := len(c.Rules[i+1].Matches); got != want {
			t.Errorf("rule %d: %d matches %v, want %d", i, got, c.Rules[i+1].Matches, want)
		}
	}
}
