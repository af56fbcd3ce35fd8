package localroutes

import (
	"net/netip"
	"strconv"
	"testing"

	"github.com/bpfilter-go/bpfilter/ir"
)

func r6(table uint32, typ uint8, p string, dev uint32, metric uint32) Route6 {
	pf := netip.MustParsePrefix(p)
	return Route6{Dst: pf.Addr().As16(), Len: uint8(pf.Bits()), Table: table, Type: typ, Ifindex: dev, Metric: metric}
}

// TestBuild6 checks Build6's answers (through ir.AddrTypes6.Lookup) for
// the cases match_lookup_rt6 distinguishes.
func TestBuild6(t *testing.T) {
	const (
		loc = 1 << ir.RTNLocal
		any = 1 << ir.RTNAnycast
		unr = 1 << ir.RTNUnreachable
	)
	kernelAnycast := r6(tableLocal, ir.RTNAnycast, "fd00:198:18::/128", 2, 0)
	kernelAnycast.Protocol = rtprotKernel
	gw := r6(tableMain, ir.RTNUnicast, "fd00:198:30::/64", 2, 1024)
	gw.Gateway = true
	dead := r6(tableMain, ir.RTNUnicast, "fd00:198:31::/64", 2, 1024)
	dead.Dead = true
	routes := []Route6{
		r6(tableLocal, ir.RTNLocal, "::1/128", 1, 0),
		r6(tableLocal, ir.RTNLocal, "fd00:198:18::1/128", 2, 0),
		kernelAnycast,
		r6(tableMain, ir.RTNUnicast, "fd00:198:18::/64", 2, 256),
		r6(tableLocal, ir.RTNThrow, "fd00:198:20::/64", 1, 1024),
		r6(tableMain, ir.RTNUnicast, "fd00:198:20::/64", 3, 1024),
		r6(tableLocal, ir.RTNThrow, "fd00:198:21::/64", 1, 1024),
		r6(tableMain, ir.RTNUnreachable, "fd00:198:22::/64", 1, 1024),
		r6(tableMain, ir.RTNBlackhole, "fd00:198:23::/64", 1, 1024),
		r6(tableMain, ir.RTNUnreachable, "fd00:198:24::/64", 1, 100),
		r6(tableMain, ir.RTNUnicast, "fd00:198:24::/64", 3, 200),
		r6(tableLocal, ir.RTNAnycast, "fd00:198:25::1/128", 1, 1024), // user anycast through lo: a reject route
		r6(tableMain, ir.RTNUnicast, "fd00:198:26::/64", 1, 1024),    // through lo: a reject route
		r6(tableMain, ir.RTNLocal, "fd00:198:27::/64", 1, 1024),
		gw, dead,
		r6(tableMain, ir.RTNUnicast, "fd00:198:32::/127", 2, 1024),
		r6(tableMain, ir.RTNUnicast, "fd00:198:33::/126", 2, 1024),
		{Dst: netip.MustParseAddr("fd00:198:34::").As16(), Len: 64, SrcLen: 48, Table: tableMain, Type: ir.RTNUnicast, Ifindex: 2},
		r6(7, ir.RTNUnicast, "fd00:198:35::/64", 2, 1024),
	}
	addrs := []Addr6{
		{Addr: netip.MustParseAddr("fd00:198:18::1").As16(), Ifindex: 2, Usable: true},
		{Addr: netip.MustParseAddr("fd00:198:18::5").As16(), Ifindex: 2, Usable: false},
		{Addr: netip.MustParseAddr("fd00:198:20::9").As16(), Ifindex: 3, Usable: true},
	}
	ents, err := Build6(routes, addrs)
	if err != nil {
		t.Fatal(err)
	}
	tab := &ir.AddrTypes6{Entries: ents}
	for _, c := range []struct {
		dev  uint32
		addr string
		want uint16
		why  string
	}{
		{0, "::1", loc, "local route"},
		{0, "fd00:198:18::1", loc, "local route"},
		{2, "fd00:198:18::1", loc, "address on the limiting device"},
		{3, "fd00:198:18::1", unr, "no route through the limiting device"},
		{2, "fd00:198:18::5", 0, "tentative address: not local"},
		{0, "fd00:198:18::", any, "kernel anycast route"},
		{2, "fd00:198:18::", any, "kernel anycast route on the device"},
		{0, "fd00:198:18::7", 0, "plain route"},
		{0, "fd00:198:19::1", unr, "no route at all"},
		{0, "fd00:198:20::5", 0, "throw in local, route in main"},
		{3, "fd00:198:20::9", loc, "address on the limiting device, route in main"},
		{0, "fd00:198:20::", any, "prefix address of a direct /64"},
		{0, "fd00:198:21::5", unr, "throw and nothing in main"},
		{0, "fd00:198:22::5", unr, "unreachable route"},
		{0, "fd00:198:23::5", unr, "blackhole route"},
		{0, "fd00:198:24::5", unr, "lower metric: unreachable"},
		{3, "fd00:198:24::5", 0, "limited: the metric-200 route on the device"},
		{3, "fd00:198:24::", any, "limited: prefix address of the device's route"},
		{0, "fd00:198:25::1", unr, "user anycast through lo is a reject route"},
		{0, "fd00:198:26::5", unr, "route through lo is a reject route"},
		{0, "fd00:198:27::5", loc, "local /64 route"},
		{0, "fd00:198:27::", loc | any, "local /64 route, prefix address"},
		{0, "fd00:198:30::", 0, "gateway route: no anycast"},
		{0, "fd00:198:31::5", unr, "dead route"},
		{0, "fd00:198:32::", 0, "/127: no anycast"},
		{0, "fd00:198:33::", any, "/126 prefix address"},
		{0, "fd00:198:34::5", unr, "source-specific route not used"},
		{0, "fd00:198:35::5", unr, "other tables not used"},
	} {
		if got := tab.Lookup(c.dev, netip.MustParseAddr(c.addr).As16()); got != c.want {
			t.Errorf("dev %d %s (%s): %s, want %s", c.dev, c.addr, c.why, ir.KindAddrType.Format(ir.KindAddrType.UintValue(uint64(got)), nil), ir.KindAddrType.Format(ir.KindAddrType.UintValue(uint64(c.want)), nil))
		}
	}
}

// BenchmarkBuild6 measures Build6 on a main table of n routes over two
// devices (the mirror runs it after every burst of route changes).
func BenchmarkBuild6(b *testing.B) {
	for _, n := range []int{100, 10000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			var routes []Route6
			for i := 0; i < n; i++ {
				a := netip.MustParseAddr("fd00:198:18::").As16()
				a[4], a[5] = byte(i>>8), byte(i)
				routes = append(routes, Route6{Dst: a, Len: 48, Table: tableMain, Type: ir.RTNUnicast, Ifindex: uint32(2 + i%2), Metric: 1024})
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := Build6(routes, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
