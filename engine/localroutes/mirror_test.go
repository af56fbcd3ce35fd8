package localroutes_test

import (
	"errors"
	"net/netip"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/bpfilter-go/bpfilter/backend"
	"github.com/bpfilter-go/bpfilter/engine"
	"github.com/bpfilter-go/bpfilter/engine/localroutes"
	"github.com/bpfilter-go/bpfilter/internal/testenv"
	"github.com/bpfilter-go/bpfilter/ir"
)

// syncBound is how long a route change may take to reach the maps.
const syncBound = 2 * time.Second

// lookup returns the map's answer for addr with prefix length 32.
func lookup(t *testing.T, m *ebpf.Map, addr string) (ir.LocalRoute, bool) {
	t.Helper()
	r := ir.LocalRoute{Addr: netip.MustParseAddr(addr).As4(), Len: 32}
	v := make([]byte, 8)
	err := m.Lookup(backend.AddrTypeKey(r), &v)
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		return r, false
	}
	if err != nil {
		t.Fatalf("lookup %s: %v", addr, err)
	}
	r.Type = v[0]
	return r, true
}

// waitFor polls cond until it holds or syncBound passes, and returns how
// long it took.
func waitFor(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > syncBound {
			t.Fatalf("%s: not seen within %v", what, syncBound)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

// newLink returns a namespace whose link towards a peer namespace has
// 198.18.0.1/24, with the link's name and index.
func newLink(t *testing.T) (*testenv.Netns, string, int) {
	t.Helper()
	ns, peer := testenv.NewNetns(t), testenv.NewNetns(t)
	v := testenv.NewVethPair(t, ns, peer, "198.18.0.1/24", "198.18.0.2/24")
	return ns, v.NameA, v.IfindexA
}

func newMap(t *testing.T) *ebpf.Map {
	t.Helper()
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.LPMTrie, KeySize: 8, ValueSize: 8, MaxEntries: 1024, Flags: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func TestMirrorFollowsTheNamespace(t *testing.T) {
	testenv.RequireBPF(t)
	ns, d0name, d0 := newLink(t)
	mir, err := localroutes.Start(ns.Do, localroutes.Options{Resync: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer mir.Close()
	m := newMap(t)
	if err := mir.Add(m); err != nil {
		t.Fatal(err)
	}
	// Filled before Add returns.
	for _, c := range []struct {
		addr    string
		typ     uint8
		ifindex int
	}{{"198.18.0.1", ir.RTNLocal, d0}, {"198.18.0.255", ir.RTNBroadcast, d0}, {"127.0.0.1", ir.RTNLocal, 1}} {
		r, ok := lookup(t, m, c.addr)
		if !ok || r.Type != c.typ {
			t.Errorf("%s: %+v %v, want type %d", c.addr, r, ok, c.typ)
		}
	}
	if _, ok := lookup(t, m, "198.18.0.7"); ok {
		t.Error("198.18.0.7 has an entry before it is added")
	}
	// An address added after the start: seen within the bound.
	ns.Exec(t, "ip", "addr", "add", "198.18.0.7/24", "dev", d0name)
	d := waitFor(t, "new address", func() bool { r, ok := lookup(t, m, "198.18.0.7"); return ok && r.Type == ir.RTNLocal })
	t.Logf("new address mirrored after %v", d)
	ns.Exec(t, "ip", "addr", "del", "198.18.0.7/24", "dev", d0name)
	waitFor(t, "deleted address", func() bool { _, ok := lookup(t, m, "198.18.0.7"); return !ok })
	// A link going down flushes its broadcast routes (its local ones
	// stay) without route notifications.
	ns.Exec(t, "ip", "link", "set", d0name, "down")
	waitFor(t, "link down", func() bool { _, ok := lookup(t, m, "198.18.0.255"); return !ok })
	if _, ok := lookup(t, m, "198.18.0.1"); !ok {
		t.Error("the local route of a down link is gone from the map")
	}
	ns.Exec(t, "ip", "link", "set", d0name, "up")
	waitFor(t, "link up", func() bool { _, ok := lookup(t, m, "198.18.0.255"); return ok })
	// Merged local/main tables: a main-table local route counts, until a
	// policy rule splits the tables for good.
	// (ip route puts local routes in the local table unless told.)
	ns.Exec(t, "ip", "route", "add", "local", "198.18.9.0/24", "dev", "lo", "table", "main")
	ns.Exec(t, "ip", "route", "add", "127.1.0.0/16", "dev", "lo", "table", "main")
	waitFor(t, "main-table local route", func() bool { r, ok := lookup(t, m, "198.18.9.5"); return ok && r.Type == ir.RTNLocal })
	answer := func(a [4]byte) uint8 { return ir.AddrType4(&ir.LocalRoutes{Routes: mir.Table()}, a, 0) }
	waitFor(t, "main-table route inside 127/8", func() bool { return answer([4]byte{127, 1, 2, 3}) == ir.RTNUnicast })
	ns.Exec(t, "ip", "rule", "add", "from", "198.18.77.1", "table", "100")
	ns.Exec(t, "ip", "rule", "del", "from", "198.18.77.1", "table", "100")
	waitFor(t, "unmerged tables", func() bool { _, ok := lookup(t, m, "198.18.9.5"); return !ok })
	if got := answer([4]byte{127, 1, 2, 3}); got != ir.RTNLocal {
		t.Errorf("127.1.2.3 with split tables: %s, want LOCAL", ir.AddrTypeNames[got])
	}
	if err := mir.Err(); err != nil {
		t.Errorf("last sync: %v", err)
	}
	// Retain drops maps; a dropped map is no longer written.
	if n := mir.Retain(nil); n != 0 {
		t.Errorf("Retain(nil) left %d maps", n)
	}
	ns.Exec(t, "ip", "addr", "add", "198.18.0.8/24", "dev", d0name)
	if err := mir.Sync(); err != nil {
		t.Fatal(err)
	}
	if _, ok := lookup(t, m, "198.18.0.8"); ok {
		t.Error("a released map was still written")
	}
}

// TestAddressChangesVerdict: a netfilter chain dropping UDP to LOCAL
// destinations on OUTPUT; an address added after the chain is attached
// turns the verdict for it from accept to drop within the bound.
func TestAddressChangesVerdict(t *testing.T) {
	testenv.RequireBPF(t)
	ns, d0name, _ := newLink(t)
	c := &ir.Chain{Name: "atype", Hook: ir.HookNFLocalOut, HookOpts: ir.HookOpts{Priorities: [2]int32{-7, -6}}, Policy: ir.Verdict{Kind: ir.Accept}, Rules: []*ir.Rule{
		{Matches: []ir.Match{
			{Field: ir.UDPDport, Op: ir.OpEq, Value: []byte{0x27, 0x0f}},
			{Field: ir.AddrDType, Op: ir.OpAny, Value: []byte{0, 1 << ir.RTNLocal}},
		}, Counter: true, Verdict: ir.Verdict{Kind: ir.Drop}},
	}}
	var ch *engine.Chain
	var mir *localroutes.Mirror
	err := ns.Do(func() error {
		var err error
		if ch, err = engine.Load(c, engine.Options{}); err != nil {
			return err
		}
		return nil
	})
	if ch != nil {
		t.Cleanup(func() { ch.Close() })
	}
	if err != nil {
		t.Fatal(err)
	}
	if mir, err = localroutes.Start(ns.Do, localroutes.Options{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mir.Close() })
	if ch.AddrTypeMap() == nil {
		t.Fatal("chain has no address type map")
	}
	if err := mir.Add(ch.AddrTypeMap()); err != nil {
		t.Fatal(err)
	}
	if err := ns.Do(func() error { return ch.Attach(c.HookOpts) }); err != nil {
		t.Fatal(err)
	}
	send := func(dst string) error {
		conn, err := ns.DialUDP(netip.AddrPortFrom(netip.MustParseAddr(dst), 9999))
		if err != nil {
			return err
		}
		defer conn.Close()
		_, err = conn.Write([]byte("addrtype"))
		return err
	}
	drops := func() uint64 {
		cs, err := ch.Counters()
		if err != nil {
			t.Fatal(err)
		}
		return cs.Rules[0].Packets
	}
	// A local address: dropped (sendto fails with EPERM).
	if err := send("198.18.0.1"); err == nil || drops() != 1 {
		t.Fatalf("to the local 198.18.0.1: err %v, %d drops; want a drop", err, drops())
	}
	if err := send("198.18.0.50"); err != nil || drops() != 1 {
		t.Fatalf("to the remote 198.18.0.50: err %v, %d drops; want it accepted", err, drops())
	}
	ns.Exec(t, "ip", "addr", "add", "198.18.0.50/24", "dev", d0name)
	n := 0
	d := waitFor(t, "verdict change", func() bool {
		n++
		return send("198.18.0.50") != nil
	})
	if got := drops(); got != 2 {
		t.Errorf("%d drops after %d sends, want 2", got, n)
	}
	t.Logf("verdict changed after %v (%d sends)", d, n)
	for i := 0; i < 3; i++ {
		if err := send("198.18.0." + strconv.Itoa(60+i)); err != nil {
			t.Errorf("remote address dropped: %v", err)
		}
	}
}

// TestMirrorStopsWhenTheNamespaceIsGone: when Alive says the namespace
// is gone, the Mirror closes its sockets (which would keep the namespace
// from being freed) and refuses further work.
func TestMirrorStopsWhenTheNamespaceIsGone(t *testing.T) {
	testenv.RequireBPF(t)
	ns, _, _ := newLink(t)
	var gone atomic.Bool
	mir, err := localroutes.Start(ns.Do, localroutes.Options{Resync: 20 * time.Millisecond, Alive: func() bool { return !gone.Load() }})
	if err != nil {
		t.Fatal(err)
	}
	defer mir.Close()
	if err := mir.Add(newMap(t)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if mir.Stopped() {
		t.Fatal("stopped while the namespace is alive")
	}
	gone.Store(true)
	waitFor(t, "stop", mir.Stopped)
	if err := mir.Sync(); err == nil {
		t.Error("Sync on a stopped mirror succeeded")
	}
	if err := mir.Add(newMap(t)); err == nil {
		t.Error("Add on a stopped mirror succeeded")
	}
}
