package localroutes

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"reflect"
	"testing"

	"github.com/bpfilter-go/bpfilter/ir"
)

func rt(prefix string, typ uint8, ifindex uint32) Route {
	p := netip.MustParsePrefix(prefix)
	return Route{Dst: p.Addr().As4(), Len: uint8(p.Bits()), Type: typ, Ifindex: ifindex}
}

func lr(prefix string, typ uint8, ifindex uint32) ir.LocalRoute {
	p := netip.MustParsePrefix(prefix).Masked()
	return ir.LocalRoute{Addr: p.Addr().As4(), Len: uint8(p.Bits()), Type: typ, Ifindex: ifindex}
}

func TestBuild(t *testing.T) {
	dead := rt("198.18.7.1/32", ir.RTNLocal, 3)
	dead.Dead = true
	tos := rt("198.18.7.2/32", ir.RTNLocal, 3)
	tos.TOS = 0x10
	local := []Route{
		rt("127.0.0.0/8", ir.RTNLocal, 1),
		rt("127.0.0.1/32", ir.RTNLocal, 1),
		rt("198.18.0.1/32", ir.RTNLocal, 2),
		rt("198.18.0.255/32", ir.RTNBroadcast, 2),
		rt("198.18.5.0/24", ir.RTNBlackhole, 0),
		rt("198.18.0.1/32", ir.RTNBroadcast, 4), // same prefix again: the first wins
		dead, tos,
	}
	main := []Route{
		rt("0.0.0.0/0", ir.RTNUnicast, 2),       // answers UNICAST: not needed
		rt("198.18.0.0/24", ir.RTNUnicast, 2),   // idem
		rt("127.1.0.0/16", ir.RTNUnicast, 1),    // inside 127/8: changes answers
		rt("198.18.9.0/24", ir.RTNLocal, 1),     // special type
		rt("198.18.9.128/25", ir.RTNUnicast, 2), // inside a kept main route
		rt("198.18.9.4/32", ir.RTNProhibit, 0),  // inside too, lookup fails
		rt("198.18.0.255/32", ir.RTNUnicast, 2), // prefix of a local route: local wins
	}
	unmerged := []ir.LocalRoute{
		lr("127.0.0.0/8", ir.RTNLocal, 1), lr("127.0.0.1/32", ir.RTNLocal, 1),
		lr("198.18.0.1/32", ir.RTNLocal, 2), lr("198.18.0.255/32", ir.RTNBroadcast, 2),
		lr("198.18.5.0/24", ir.RTNUnicast, 0),
	}
	if got := Build(local, main, false); !reflect.DeepEqual(got, unmerged) {
		t.Errorf("unmerged:\n got %v\nwant %v", got, unmerged)
	}
	merged := append(append([]ir.LocalRoute(nil), unmerged...),
		lr("127.1.0.0/16", ir.RTNUnicast, 1), lr("198.18.9.0/24", ir.RTNLocal, 1),
		lr("198.18.9.128/25", ir.RTNUnicast, 2), lr("198.18.9.4/32", ir.RTNUnicast, 0))
	got := Build(local, main, true)
	if !reflect.DeepEqual(got, merged) {
		t.Errorf("merged:\n got %v\nwant %v", got, merged)
	}
	// Answers through the table.
	tab := &ir.LocalRoutes{Routes: got}
	for _, c := range []struct {
		addr string
		want uint8
	}{{"127.1.2.3", ir.RTNUnicast}, {"127.2.0.1", ir.RTNLocal}, {"198.18.9.5", ir.RTNLocal}, {"198.18.9.4", ir.RTNUnicast},
		{"198.18.9.200", ir.RTNUnicast}, {"198.18.7.1", ir.RTNUnicast}, {"198.18.7.2", ir.RTNUnicast}, {"198.18.0.1", ir.RTNLocal}} {
		if a := ir.AddrType4(tab, netip.MustParseAddr(c.addr).As4(), 0); a != c.want {
			t.Errorf("%s: %s, want %s", c.addr, ir.AddrTypeNames[a], ir.AddrTypeNames[c.want])
		}
	}
}

func TestMerged(t *testing.T) {
	stat := func(main, local int) []byte {
		return []byte(fmt.Sprintf("Basic info: size of leaf: 48 bytes, size of tnode: 40 bytes.\nMain:\n\tAver depth:     2.25\n\tPrefixes:       %d\nNull ptrs: 4\nTotal size: 1  kB\n"+
			"Local:\n\tAver depth:     2.25\n\tLeaves:         4\n\tPrefixes:       %d\n\tInternal nodes: 3\nNull ptrs: 4\n", main, local))
	}
	for _, c := range []struct {
		text        []byte
		local, main int
		want        bool
	}{
		{stat(7, 7), 4, 3, true},  // both tries are one: 4 + 3 routes
		{stat(3, 4), 4, 3, false}, // split
		{stat(0, 4), 4, 0, false}, // no main routes: the merge changes nothing
		{stat(4, 4), 4, 0, false},
		{stat(7, 7), 5, 3, false}, // counts that do not add up
		{[]byte("garbage"), 4, 3, false},
		{nil, 0, 0, false},
	} {
		if got := merged(c.text, c.local, c.main); got != c.want {
			t.Errorf("local %d main %d:\n%s: merged = %v", c.local, c.main, c.text, got)
		}
	}
}

func TestParseRoute(t *testing.T) {
	// struct rtmsg: AF_INET, /24, tos 0, table 254 (RTA_TABLE says 255),
	// type LOCAL, flags 0; RTA_TABLE, RTA_DST, RTA_OIF.
	b := []byte{2, 24, 0, 0, 254, 2, 254, 2, 0, 0, 0, 0}
	attr := func(typ uint16, v []byte) {
		h := make([]byte, 4)
		binary.NativeEndian.PutUint16(h, uint16(4+len(v)))
		binary.NativeEndian.PutUint16(h[2:], typ)
		b = append(append(b, h...), v...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
	}
	u32 := func(v uint32) []byte { x := make([]byte, 4); binary.NativeEndian.PutUint32(x, v); return x }
	attr(15, u32(255))
	attr(1, []byte{198, 18, 3, 0})
	attr(4, u32(7))
	r, table, err := parseRoute(b)
	if err != nil || table != 255 || r != rt("198.18.3.0/24", ir.RTNLocal, 7) {
		t.Errorf("got %+v table %d, %v", r, table, err)
	}
	// Multipath: first nexthop's device; dead only when all are.
	mp := []byte{8, 0, 1, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0}
	binary.NativeEndian.PutUint32(mp[4:], 11)
	binary.NativeEndian.PutUint32(mp[12:], 12)
	if idx, dead := parseMultipath(mp, false); idx != 11 || dead {
		t.Errorf("multipath: %d %v", idx, dead)
	}
	mp[10] = 1
	if _, dead := parseMultipath(mp, false); !dead {
		t.Error("all nexthops dead: not dead")
	}
	// Garbage never panics.
	for n := 0; n < len(b); n++ {
		parseRoute(b[:n])
		parseMultipath(mp[:n%len(mp)], false)
	}
}
