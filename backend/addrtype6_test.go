package backend

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/bpfilter-go/bpfilter/ir"
)

// addrTypes6Table is a crafted IPv6 lookup table: entries without a
// device, entries for loopback (the output device of test runs) and for
// another device.
func addrTypes6Table(t testing.TB) *ir.AddrTypes6 {
	e := func(dev uint32, p string, types uint16) ir.AddrType6Entry {
		pf := netip.MustParsePrefix(p)
		return ir.AddrType6Entry{Dev: dev, Addr: pf.Masked().Addr().As16(), Len: uint8(pf.Bits()), Types: types}
	}
	const (
		loc = 1 << ir.RTNLocal
		any = 1 << ir.RTNAnycast
		unr = 1 << ir.RTNUnreachable
	)
	return &ir.AddrTypes6{Entries: []ir.AddrType6Entry{
		e(0, "::/0", 0),
		e(0, "::1/128", loc),
		e(0, "fd00:198:18::/64", 0),
		e(0, "fd00:198:18::/128", any),
		e(0, "fd00:198:18::1/128", loc),
		e(0, "2001:db8::/32", unr),
		e(0, "2001:db8:1::/48", 0),
		e(loIfindex, "::1/128", loc),
		e(loIfindex, "fd00:198:18::/64", 0),
		e(loIfindex, "fd00:198:18::/128", any),
		e(loIfindex, "fe80::/64", 0),
		e(2, "fd00:198:18::1/128", loc),
	}}
}

// TestAddrType6LookupMatchesEval loads IPv6 address type matches with
// lookup bits (the forms the ip6tables translation makes and others),
// fills AddrType6Map with a crafted table and compares every match's
// outcome with ir.Eval given the same table, on every netfilter hook.
func TestAddrType6LookupMatchesEval(t *testing.T) {
	tab := addrTypes6Table(t)
	const (
		loc = 1 << ir.RTNLocal
		any = 1 << ir.RTNAnycast
		unr = 1 << ir.RTNUnreachable
		uni = 1 << ir.RTNUnicast
		mc  = 1 << ir.RTNMulticast
	)
	var ms []ir.Match
	fields := []ir.Field{ir.AddrSType, ir.AddrDType, ir.AddrSTypeIif, ir.AddrDTypeIif, ir.AddrSTypeOif, ir.AddrDTypeOif}
	masks := []uint16{loc, any, unr, loc | any, loc | unr, any | unr, loc | any | unr, uni | loc, uni | unr, mc | loc, uni | any}
	for _, f := range fields {
		for _, m := range masks {
			for _, op := range []ir.Op{ir.OpAny, ir.OpAll} {
				for _, neg := range []bool{false, true} {
					ms = append(ms, ir.Match{Field: f, Op: op, Negate: neg, Value: []byte{byte(m >> 8), byte(m)}})
				}
			}
		}
		ms = append(ms, ir.Match{Field: f, Op: ir.OpEq, Value: []byte{0, uni}})
	}
	addrs := []string{"::", "::1", "::ffff:198.18.0.1", "ff02::1", "fe80::1", "fd00:198:18::", "fd00:198:18::1",
		"fd00:198:18::2", "2001:db8::1", "2001:db8:1::5", "fd00:198:19::1"}
	var frames [][]byte
	for i, a := range addrs {
		frames = append(frames, tcp6(a, addrs[(i+4)%len(addrs)], 1, 2, 0x02))
		frames = append(frames, tcp6(addrs[(i+7)%len(addrs)], a, 1, 2, 0x02))
	}
	for _, h := range []ir.Hook{ir.HookNFLocalIn, ir.HookNFForward, ir.HookNFLocalOut} {
		c := &ir.Chain{Name: "addrtype6", Hook: h, Policy: ir.Verdict{Kind: ir.Accept}}
		for _, m := range ms {
			c.Rules = append(c.Rules, &ir.Rule{Matches: []ir.Match{m}, Counter: true, Verdict: ir.Verdict{Kind: ir.Continue}})
		}
		c.Rules = append(c.Rules, &ir.Rule{Matches: []ir.Match{
			{Field: ir.AddrDTypeOif, Op: ir.OpAll, Value: []byte{0, uni | loc}},
			{Field: ir.AddrSType, Op: ir.OpAny, Negate: true, Value: []byte{0, any}},
		}, Verdict: ir.Verdict{Kind: ir.Drop}})
		l := compileAndLoad(t, c)
		am, ok := l.coll.Maps[AddrType6Map]
		if !ok {
			t.Fatalf("%s: no %s map", h, AddrType6Map)
		}
		for _, e := range tab.Entries {
			if err := am.Put(AddrType6Key(e), AddrType6Value(e)); err != nil {
				t.Fatalf("fill %s: %v", AddrType6Map, err)
			}
		}
		hits, drops := 0, 0
		for _, fr := range frames {
			p := testPacket{frame: fr}
			ep := evalPacket(h, p)
			ep.AddrTypes6 = tab
			res := ir.Eval(nil, c, ep)
			before := l.counters(t)
			if got, want := l.run(t, p), expectedRet(h, res.Verdict); got != want {
				t.Errorf("%s: packet % x: program returned %d, ir.Eval says %s", h, fr[14+8:14+40], int32(got), res.Verdict)
			}
			if res.Verdict.Kind == ir.Drop {
				drops++
			}
			after := l.counters(t)
			want := make(map[int]bool)
			for _, ht := range res.Hits {
				want[ht.Rule] = true
			}
			for i := range ms {
				if moved := after[i].Packets != before[i].Packets; moved != want[i] {
					t.Errorf("%s: packet % x: %s held = %v, ir.Eval says %v", h, fr[14+8:14+40], ms[i], moved, want[i])
				}
			}
			hits += len(res.Hits)
		}
		if hits == 0 || hits == len(frames)*len(ms) || drops == 0 || drops == len(frames) {
			t.Errorf("%s: %d hits, %d drops: the cases do not cover both outcomes", h, hits, drops)
		}
	}
}

// TestAddrTypes6Lookup checks the reference table lookup itself: longest
// prefix per device, UNREACHABLE on a miss.
func TestAddrTypes6Lookup(t *testing.T) {
	tab := addrTypes6Table(t)
	for _, c := range []struct {
		dev  uint32
		addr string
		want uint16
	}{
		{0, "fd00:198:18::", 1 << ir.RTNAnycast},
		{0, "fd00:198:18::1", 1 << ir.RTNLocal},
		{0, "fd00:198:18::7", 0},
		{0, "2001:db8:2::1", 1 << ir.RTNUnreachable},
		{0, "2001:db8:1::1", 0},
		{2, "fd00:198:18::1", 1 << ir.RTNLocal},
		{2, "fd00:198:18::2", 1 << ir.RTNUnreachable},
		{7, "::1", 1 << ir.RTNUnreachable},
	} {
		if got := tab.Lookup(c.dev, netip.MustParseAddr(c.addr).As16()); got != c.want {
			t.Errorf("Lookup(%d, %s) = %#x, want %#x", c.dev, c.addr, got, c.want)
		}
	}
	var nilTab *ir.AddrTypes6
	if got := nilTab.Lookup(0, [16]byte{}); got != 1<<ir.RTNUnreachable {
		t.Errorf("nil table: %#x", got)
	}
}

// BenchmarkAddrType6 measures the per-packet cost of n IPv6 address type
// matches with a route lookup (an LPM lookup each in a 1000-entry map) on
// NF_INET_LOCAL_OUT.
func BenchmarkAddrType6(b *testing.B) {
	frame := tcp6("fd00:198:18::1", "fd00:198:18:c8::7", 1234, 80, 0)
	for _, n := range []int{1, 10} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			c := &ir.Chain{Name: "bench6", Hook: ir.HookNFLocalOut, Policy: ir.Verdict{Kind: ir.Accept}}
			for i := 0; i < n; i++ {
				m := ir.Match{Field: ir.AddrDType, Op: ir.OpAll, Value: []byte{0, 1 << ir.RTNLocal}}
				c.Rules = append(c.Rules, &ir.Rule{Matches: []ir.Match{m}, Verdict: ir.Verdict{Kind: ir.Drop}})
			}
			l := compileAndLoad(b, c)
			am := l.coll.Maps[AddrType6Map]
			for i := 0; i < 1000; i++ {
				a := netip.MustParseAddr("fd00:198:18::").As16()
				a[6], a[7] = byte(i>>8), byte(i)
				e := ir.AddrType6Entry{Addr: a, Len: 64, Types: 0}
				if err := am.Put(AddrType6Key(e), AddrType6Value(e)); err != nil {
					b.Fatal(err)
				}
			}
			benchPacket(b, l, ir.HookNFLocalOut, frame, expectedRet(ir.HookNFLocalOut, ir.Verdict{Kind: ir.Accept}))
		})
	}
}
