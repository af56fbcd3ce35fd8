package engine_test

import (
	"testing"

	"github.com/bpfilter-go/bpfilter/engine"
	"github.com/bpfilter-go/bpfilter/internal/testenv"
)

// TestNetfilterRestoreThenReplace pins a netfilter chain, lets go of it,
// restores it inside its namespace, and replaces it from a thread outside
// the namespace: the new links must land in the chain's namespace, at the
// other priority, and take over the pins.
func TestNetfilterRestoreThenReplace(t *testing.T) {
	p := newPair(t)
	eo := engine.Options{BPFFS: testenv.NewBPFFS(t)}
	v1 := parseChain(t, `chain n BF_HOOK_NF_LOCAL_IN{family=inet4} ACCEPT
		rule ip4.proto icmp counter DROP`)
	c := loadIn(t, p.b, v1, v1.HookOpts, eo)
	if err := c.Pin("n"); err != nil {
		t.Fatal(err)
	}
	if n := p.ping(t, 2, false); n != 0 {
		t.Errorf("%d pings answered through a DROP rule", n)
	}
	if err := c.Release(); err != nil {
		t.Fatal(err)
	}
	if n := p.ping(t, 2, false); n != 0 {
		t.Errorf("released pinned chain: %d pings answered through a DROP rule", n)
	}
	if err := p.b.Do(func() error {
		var err error
		c, err = engine.Restore("n", v1, eo)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	}()
	wantPackets(t, "restored icmp rule", counters(t, c).Rules[0], 4)

	v2 := parseChain(t, `chain n BF_HOOK_NF_LOCAL_IN{family=inet4} ACCEPT
		rule meta.l4_proto udp udp.dport 5000 counter DROP`)
	next, err := engine.Load(v2, eo)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Replace(next); err != nil {
		t.Fatal(err)
	}
	if n := p.ping(t, 2, false); n != 2 {
		t.Errorf("after replace, %d of 2 pings answered", n)
	}
	if n := p.udp(t, 3, 5000); n != 0 {
		t.Errorf("after replace, %d datagrams passed a DROP rule", n)
	}
	wantPackets(t, "v2 udp rule", counters(t, c).Rules[0], 3)

	// The new links carry the pins: release and restore once more.
	if err := c.Release(); err != nil {
		t.Fatal(err)
	}
	if err := p.b.Do(func() error {
		var err error
		c, err = engine.Restore("n", v2, eo)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if n := p.udp(t, 2, 5000); n != 0 {
		t.Errorf("after the second restore, %d datagrams passed a DROP rule", n)
	}
	wantPackets(t, "re-restored udp rule", counters(t, c).Rules[0], 5)
}
