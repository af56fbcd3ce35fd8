package testpkt

import (
	"testing"

	"github.com/bpfilter-go/bpfilter/ir"
)

// TestParsedByIR checks that ir.Parse sees the headers the builder wrote.
func TestParsedByIR(t *testing.T) {
	tcp := Ethernet(EthIPv4, IPv4{Src: Addr("198.18.0.1"), Dst: Addr("198.18.0.2"), Proto: ProtoTCP}.Encode(TCP{Sport: 1, Dport: 2, Flags: SYN}.Encode()))
	pp := ir.Parse(&ir.Packet{Data: tcp, L2: true})
	if pp.Err != nil || pp.L4Proto != ProtoTCP || len(pp.L4) != 20 || pp.L4[13] != SYN {
		t.Fatalf("IPv4/TCP: %+v", pp)
	}
	if c := checksum(tcp[14:34]); c != 0 {
		t.Errorf("IPv4 checksum does not verify: %#x", c)
	}
	v6 := Ethernet(EthIPv6, IPv6{Src: Addr("2001:db8::1"), Dst: Addr("2001:db8::2"), NextHdr: ProtoUDP,
		Ext: []Ext{{Type: 0}, {Type: 51, Len: 1}, {Type: 44}}}.Encode(UDP{Sport: 53, Dport: 53}.Encode()))
	pp = ir.Parse(&ir.Packet{Data: v6, L2: true})
	if pp.Err != nil || pp.L4Proto != ProtoUDP || len(pp.L4) != 8 {
		t.Fatalf("IPv6/ext/UDP: %+v", pp)
	}
	frag := Ethernet(EthIPv6, IPv6{NextHdr: ProtoTCP, Ext: []Ext{{Type: 44, FragOffset: 10}}, Src: Addr("::1"), Dst: Addr("::2")}.Encode(nil))
	pp = ir.Parse(&ir.Packet{Data: frag, L2: true})
	if pp.Err != nil || !pp.HasL4Proto || pp.L4 != nil {
		t.Fatalf("IPv6 non-first fragment: %+v", pp)
	}
}
