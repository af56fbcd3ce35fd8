package ir

import (
	"net/netip"
	"testing"
)

// isAddrTypeField reports whether f is an address type field (tested
// here, skipped by the upstream field table tests).
func isAddrTypeField(f Field) bool {
	_, _, ok := f.AddrTypeSpec()
	return ok
}

func TestAddrTypeFields(t *testing.T) {
	n := 0
	for _, f := range Fields() {
		if !isAddrTypeField(f) {
			continue
		}
		n++
		for _, h := range Hooks() {
			if got, want := f.ValidOn(h), h.Flavour() == FlavourNF; got != want {
				t.Errorf("%s on %s: ValidOn = %v, want %v", f, h, got, want)
			}
		}
		if f.Info().InSet || !f.SupportsOp(OpEq) || !f.SupportsOp(OpAny) || !f.SupportsOp(OpAll) || f.SupportsOp(OpRange) {
			t.Errorf("%s: wrong set or operator support", f)
		}
		src, limit, _ := f.AddrTypeSpec()
		if AddrTypeField(src, limit) != f {
			t.Errorf("%s: AddrTypeField(%v, %d) = %s", f, src, limit, AddrTypeField(src, limit))
		}
	}
	if n != 6 {
		t.Errorf("%d address type fields, want 6", n)
	}
	if AddrTypeField(true, 7) != FieldInvalid {
		t.Errorf("AddrTypeField with a bad limit is valid")
	}
}

func TestAddrTypeParseFormat(t *testing.T) {
	for _, tc := range []struct {
		in, out string
		v       uint64
	}{
		{"LOCAL", "LOCAL", 1 << 2},
		{"unicast,local", "UNICAST,LOCAL", 1<<1 | 1<<2},
		{"XRESOLVE,UNSPEC", "UNSPEC,XRESOLVE", 1<<11 | 1},
		{"0x8000", "0x8000", 0x8000},
	} {
		v, _, err := KindAddrType.Parse(tc.in, ParseEnv{})
		if err != nil {
			t.Fatalf("%q: %v", tc.in, err)
		}
		if Uint(v) != tc.v || KindAddrType.Format(v, nil) != tc.out {
			t.Errorf("%q: %#x %q, want %#x %q", tc.in, Uint(v), KindAddrType.Format(v, nil), tc.v, tc.out)
		}
	}
	if _, _, err := KindAddrType.Parse("LOCALE", ParseEnv{}); err == nil {
		t.Error("LOCALE parsed")
	}
}

func TestAddrType4(t *testing.T) {
	tab := &LocalRoutes{Routes: []LocalRoute{
		{Addr: [4]byte{127, 0, 0, 0}, Len: 8, Type: RTNLocal, Ifindex: 1},
		{Addr: [4]byte{198, 18, 0, 1}, Len: 32, Type: RTNLocal, Ifindex: 2},
		{Addr: [4]byte{198, 18, 0, 255}, Len: 32, Type: RTNBroadcast, Ifindex: 2},
		{Addr: [4]byte{127, 1, 0, 0}, Len: 16, Type: RTNUnicast, Ifindex: 1},
		{Addr: [4]byte{198, 19, 0, 0}, Len: 16, Type: RTNAnycast, Ifindex: 3},
	}}
	for _, tc := range []struct {
		addr string
		dev  uint32
		want uint8
	}{
		{"0.1.2.3", 0, RTNBroadcast},
		{"255.255.255.255", 5, RTNBroadcast},
		{"224.0.0.1", 0, RTNMulticast},
		{"239.255.255.255", 2, RTNMulticast},
		{"127.0.0.1", 0, RTNLocal},
		{"127.0.0.1", 1, RTNLocal},
		{"127.0.0.1", 2, RTNUnicast},
		{"127.1.2.3", 0, RTNUnicast},
		{"198.18.0.1", 0, RTNLocal},
		{"198.18.0.1", 2, RTNLocal},
		{"198.18.0.1", 3, RTNUnicast},
		{"198.18.0.255", 0, RTNBroadcast},
		{"198.18.0.2", 0, RTNUnicast},
		{"198.19.4.4", 0, RTNAnycast},
		{"8.8.8.8", 0, RTNUnicast},
	} {
		a := netip.MustParseAddr(tc.addr).As4()
		if got := AddrType4(tab, a, tc.dev); got != tc.want {
			t.Errorf("%s dev %d: %s, want %s", tc.addr, tc.dev, AddrTypeNames[got], AddrTypeNames[tc.want])
		}
	}
	if got := AddrType4(nil, [4]byte{10, 0, 0, 1}, 0); got != RTNUnicast {
		t.Errorf("empty table: %d", got)
	}
}

func TestAddrClass6(t *testing.T) {
	for _, tc := range []struct {
		addr string
		want uint16
	}{
		{"::", 1 << RTNUnspec},
		{"::1", 1 << RTNUnicast},
		{"::1.2.3.4", 1 << RTNUnicast},
		{"::ffff:1.2.3.4", 0},
		{"ff02::1", 1 << RTNMulticast},
		{"fe80::1", 1 << RTNUnicast},
		{"fd00:198:18::1", 1 << RTNUnicast},
		{"2001:db8::1", 1 << RTNUnicast},
		{"e000::1", 1 << RTNUnicast},
		{"100::", 1 << RTNUnicast},
	} {
		if got := AddrClass6(netip.MustParseAddr(tc.addr).As16()); got != tc.want {
			t.Errorf("%s: %#x, want %#x", tc.addr, got, tc.want)
		}
	}
}

func TestAddrTypeEval(t *testing.T) {
	ip4 := func(src, dst string) []byte {
		b := make([]byte, 20)
		b[0], b[9] = 0x45, 17
		s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
		copy(b[12:], s[:])
		copy(b[16:], d[:])
		return b
	}
	tab := &LocalRoutes{Routes: []LocalRoute{{Addr: [4]byte{198, 18, 0, 1}, Len: 32, Type: RTNLocal, Ifindex: 2}}}
	local := []byte{0, 1 << RTNLocal}
	c := &Chain{Name: "c", Hook: HookNFForward, Policy: Verdict{Kind: Accept}, Rules: []*Rule{
		{Matches: []Match{{Field: AddrDTypeIif, Op: OpAny, Value: local}}, Verdict: Verdict{Kind: Drop}},
	}}
	for _, tc := range []struct {
		dst   string
		in    uint32
		table *LocalRoutes
		want  VerdictKind
	}{
		{"198.18.0.1", 2, tab, Drop},
		{"198.18.0.1", 0, tab, Drop},
		{"198.18.0.1", 3, tab, Accept},
		{"198.18.0.1", 2, nil, Accept},
		{"198.18.0.2", 2, tab, Accept},
	} {
		p := &Packet{Data: ip4("198.18.0.9", tc.dst), L3Proto: EthPIP, InIfindex: tc.in, LocalRoutes: tc.table}
		if got := Eval(nil, c, p).Verdict.Kind; got != tc.want {
			t.Errorf("%s in %d: %v, want %v", tc.dst, tc.in, got, tc.want)
		}
	}
	// IPv6: OpAll on the class bits; not with a v6 "LOCAL" mask.
	ip6 := make([]byte, 40)
	ip6[0], ip6[6] = 0x60, 59
	ip6[24] = 0xff
	c.Rules[0].Matches[0] = Match{Field: AddrDType, Op: OpAll, Value: []byte{0, 1 << RTNMulticast}}
	if got := Eval(nil, c, &Packet{Data: ip6, L3Proto: EthPIPv6}).Verdict.Kind; got != Drop {
		t.Errorf("ff00:: MULTICAST: %v", got)
	}
	c.Rules[0].Matches[0].Value = []byte{0, 1<<RTNMulticast | 1<<RTNUnicast}
	if got := Eval(nil, c, &Packet{Data: ip6, L3Proto: EthPIPv6}).Verdict.Kind; got != Accept {
		t.Errorf("ff00:: UNICAST,MULTICAST: %v", got)
	}
}
