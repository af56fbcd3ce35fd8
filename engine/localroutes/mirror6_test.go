package localroutes_test

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/bpfilter-go/bpfilter/backend"
	"github.com/bpfilter-go/bpfilter/engine/localroutes"
	"github.com/bpfilter-go/bpfilter/internal/testenv"
	"github.com/bpfilter-go/bpfilter/ir"
)

// lookup6 returns the IPv6 map's answer for addr and limiting device dev,
// UNREACHABLE on a miss, as the backend reads it.
func lookup6(t *testing.T, m *ebpf.Map, dev uint32, addr string) uint16 {
	t.Helper()
	k := backend.AddrType6Key(ir.AddrType6Entry{Dev: dev, Addr: netip.MustParseAddr(addr).As16(), Len: 128})
	v := make([]byte, 4)
	err := m.Lookup(k, &v)
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		return 1 << ir.RTNUnreachable
	}
	if err != nil {
		t.Fatalf("lookup %s: %v", addr, err)
	}
	return binary.NativeEndian.Uint16(v)
}

// TestMirror6FollowsTheNamespace: the IPv6 map answers as the mirror's
// table says, and follows an address added to loopback, a route added
// and a policy rule (flagged as inexact).
func TestMirror6FollowsTheNamespace(t *testing.T) {
	testenv.RequireBPF(t)
	ns, _, d0 := newLink(t)
	mir, err := localroutes.Start(ns.Do, localroutes.Options{Resync: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer mir.Close()
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.LPMTrie, KeySize: 24, ValueSize: 4, MaxEntries: 1024, Flags: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := mir.Add(m); err != nil {
		t.Fatal(err)
	}
	const (
		loc = 1 << ir.RTNLocal
		unr = 1 << ir.RTNUnreachable
	)
	dev := uint32(d0)
	for _, c := range []struct {
		dev  uint32
		addr string
		want uint16
	}{
		{0, "fd00:198:18::1", loc}, {dev, "fd00:198:18::1", loc}, {0, "fd00:198:18::2", 0},
		{1, "fd00:198:18::1", unr}, {0, "fd00:198:77::7", unr}, {0, "::1", loc},
	} {
		if got := lookup6(t, m, c.dev, c.addr); got != c.want {
			t.Errorf("dev %d %s: %#x, want %#x", c.dev, c.addr, got, c.want)
		}
		tab := &ir.AddrTypes6{Entries: mir.Table6()}
		if got, want := lookup6(t, m, c.dev, c.addr), tab.Lookup(c.dev, netip.MustParseAddr(c.addr).As16()); got != want {
			t.Errorf("dev %d %s: map %#x, table %#x", c.dev, c.addr, got, want)
		}
	}
	ns.Exec(t, "ip", "-6", "addr", "add", "fd00:198:77::7/128", "dev", "lo")
	d := waitFor(t, "new IPv6 address", func() bool { return lookup6(t, m, 0, "fd00:198:77::7") == loc })
	t.Logf("address reached the map after %v", d)
	if got := lookup6(t, m, 1, "fd00:198:77::7"); got != loc {
		t.Errorf("limited to lo: %#x, want LOCAL", got)
	}
	ns.Exec(t, "ip", "-6", "route", "add", "unreachable", "fd00:198:18:0:8000::/65")
	waitFor(t, "unreachable route", func() bool { return lookup6(t, m, 0, "fd00:198:18:0:8000::5") == unr })
	if mir.Warning6() != "" {
		t.Errorf("default rules flagged: %s", mir.Warning6())
	}
	ns.Exec(t, "ip", "-6", "rule", "add", "pref", "100", "lookup", "100")
	waitFor(t, "policy rule flagged", func() bool { return mir.Warning6() != "" })
	t.Logf("flagged: %s", mir.Warning6())
}
