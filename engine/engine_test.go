package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bpfilter-go/bpfilter/backend"
	"github.com/bpfilter-go/bpfilter/engine"
	"github.com/bpfilter-go/bpfilter/internal/testenv"
	"github.com/bpfilter-go/bpfilter/ir"
)

func TestMain(m *testing.M) {
	testenv.RunHelpers()
	os.Exit(m.Run())
}

// loadIn loads c in ns and attaches it with opts (none: not attached).
func loadIn(t *testing.T, ns *testenv.Netns, c *ir.Chain, opts ir.HookOpts, eo engine.Options) *engine.Chain {
	t.Helper()
	var ch *engine.Chain
	if err := ns.Do(func() error {
		var err error
		if ch, err = engine.Load(c, eo); err != nil {
			return err
		}
		if opts.IsZero() {
			return nil
		}
		return ch.Attach(opts)
	}); err != nil {
		t.Fatal(err)
	}
	return ch
}

func wantPackets(t *testing.T, what string, got engine.Counter, want uint64) {
	t.Helper()
	if got.Packets != want {
		t.Errorf("%s: %d packets, want %d", what, got.Packets, want)
	}
	if want > 0 && got.Bytes < want*20 {
		t.Errorf("%s: %d bytes for %d packets", what, got.Bytes, got.Packets)
	}
}

// TestChainLifecycleTC filters real traffic with a TC ingress chain, then
// replaces it (counters of the unchanged rule carry over), survives a
// refused replacement, is pinned, released and restored, and closes.
func TestChainLifecycleTC(t *testing.T) {
	p := newPair(t)
	fs := testenv.NewBPFFS(t)
	eo := engine.Options{BPFFS: fs}
	opts := ir.HookOpts{Iface: p.veth.NameB}

	v1 := parseChain(t, `chain t BF_HOOK_TC_INGRESS ACCEPT
		rule ip4.proto icmp counter DROP
		rule meta.l4_proto udp udp.dport 5000 counter ACCEPT`)
	c := loadIn(t, p.b, v1, opts, eo)
	defer func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	}()
	if got := c.Attachment().Opts.Ifindex; got != uint32(p.veth.IfindexB) {
		t.Fatalf("iface %s resolved to ifindex %d, want %d", p.veth.NameB, got, p.veth.IfindexB)
	}
	if n := p.ping(t, 3, false); n != 0 {
		t.Errorf("%d pings answered through a DROP rule", n)
	}
	if n := p.udp(t, 5, 5000); n != 5 {
		t.Errorf("%d of 5 datagrams arrived through an ACCEPT rule", n)
	}
	cs := counters(t, c)
	wantPackets(t, "v1 icmp rule", cs.Rules[0], 3)
	wantPackets(t, "v1 udp rule", cs.Rules[1], 5)

	// A replacement for another hook is refused; the old chain keeps
	// filtering.
	bad, err := engine.Load(parseChain(t, `chain t BF_HOOK_XDP ACCEPT`), eo)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Replace(bad); err == nil {
		t.Error("replacing a TC chain with an XDP chain succeeded")
	}
	if err := bad.Close(); err != nil {
		t.Error(err)
	}
	if n := p.ping(t, 1, false); n != 0 {
		t.Errorf("after a refused replace, %d pings answered", n)
	}

	v2 := parseChain(t, `chain t BF_HOOK_TC_INGRESS ACCEPT
		rule meta.l4_proto udp udp.dport 5000 counter ACCEPT
		rule ip4.proto icmp counter ACCEPT`)
	next, err := engine.Load(v2, eo)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Replace(next); err != nil {
		t.Fatal(err)
	}
	if c.IR != v2 {
		t.Error("after Replace the chain does not hold the new IR")
	}
	cs = counters(t, c)
	wantPackets(t, "carried udp rule", cs.Rules[0], 5)
	wantPackets(t, "new icmp rule", cs.Rules[1], 0)
	if n := p.ping(t, 3, false); n != 3 {
		t.Errorf("after replace, %d of 3 pings answered", n)
	}
	wantPackets(t, "v2 icmp rule", counters(t, c).Rules[1], 3)

	// Pin, let go of every file descriptor: the pins keep filtering.
	if err := c.Pin("t"); err != nil {
		t.Fatal(err)
	}
	if err := c.Release(); err != nil {
		t.Fatal(err)
	}
	if n := p.ping(t, 2, false); n != 2 {
		t.Errorf("while released, %d of 2 pings answered", n)
	}
	var r *engine.Chain
	if err := p.b.Do(func() error {
		var err error
		r, err = engine.Restore("t", v2, eo)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	c = r
	if c.Attachment() == nil {
		t.Fatal("restored chain is not attached")
	}
	wantPackets(t, "restored icmp rule", counters(t, c).Rules[1], 5)

	// The restored chain can be replaced: drop ICMP again.
	v3 := parseChain(t, `chain t BF_HOOK_TC_INGRESS ACCEPT
		rule ip4.proto icmp counter DROP`)
	next, err = engine.Load(v3, eo)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Replace(next); err != nil {
		t.Fatal(err)
	}
	if n := p.ping(t, 2, false); n != 0 {
		t.Errorf("after replacing the restored chain, %d pings answered", n)
	}
	dir := c.PinDir()
	if _, err := os.Stat(filepath.Join(dir, backend.ProgramName)); err != nil {
		t.Errorf("replacement not pinned: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("pin directory left after Close: %v", err)
	}
	if n := p.ping(t, 2, false); n != 2 {
		t.Errorf("after Close, %d of 2 pings answered", n)
	}
}

// TestNetfilterReplace checks both families of a netfilter chain and that
// make-before-break, called from a thread outside the namespace, puts the
// new links in the chain's namespace at the second priority.
func TestNetfilterReplace(t *testing.T) {
	p := newPair(t)
	v1 := parseChain(t, `chain n BF_HOOK_NF_LOCAL_IN{priorities=101-102} ACCEPT
		rule ip4.proto icmp counter DROP
		rule meta.l4_proto icmpv6 icmpv6.type echo-request counter DROP`)
	c := loadIn(t, p.b, v1, v1.HookOpts, engine.Options{})
	defer func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	}()
	if got := c.Attachment().Priority(); got != 101 {
		t.Errorf("attached at priority %d, want 101", got)
	}
	if n := p.ping(t, 3, false); n != 0 {
		t.Errorf("%d IPv4 pings answered through a DROP rule", n)
	}
	if n := p.ping(t, 3, true); n != 0 {
		t.Errorf("%d IPv6 pings answered through a DROP rule", n)
	}
	cs := counters(t, c)
	wantPackets(t, "icmp rule", cs.Rules[0], 3)
	wantPackets(t, "icmpv6 rule", cs.Rules[1], 3)

	v2 := parseChain(t, `chain n BF_HOOK_NF_LOCAL_IN{priorities=101-102} ACCEPT
		rule meta.l4_proto udp udp.dport 5000 counter DROP`)
	next, err := engine.Load(v2, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Replace(next); err != nil {
		t.Fatal(err)
	}
	if got := c.Attachment().Priority(); got != 102 {
		t.Errorf("after replace, priority %d, want 102", got)
	}
	if n := p.ping(t, 2, false) + p.ping(t, 2, true); n != 4 {
		t.Errorf("after replace, %d of 4 pings answered", n)
	}
	if n := p.udp(t, 3, 5000); n != 0 {
		t.Errorf("after replace, %d datagrams passed a DROP rule", n)
	}
	wantPackets(t, "v2 udp rule", counters(t, c).Rules[0], 3)
}

func TestReadLogs(t *testing.T) {
	p := newPair(t)
	c := loadIn(t, p.b, parseChain(t, `chain l BF_HOOK_TC_INGRESS ACCEPT
		rule ip4.proto icmp log counter ACCEPT`), ir.HookOpts{Ifindex: uint32(p.veth.IfindexB)}, engine.Options{})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	entries := make(chan backend.LogEntry, 16)
	done := make(chan error, 1)
	go func() { done <- c.ReadLogs(ctx, func(e backend.LogEntry) { entries <- e }) }()
	if n := p.ping(t, 2, false); n != 2 {
		t.Errorf("%d of 2 pings answered", n)
	}
	for i := 0; i < 2; i++ {
		select {
		case e := <-entries:
			if e.Rule != 0 || e.Hook != ir.HookTCIngress || e.Verdict != ir.Accept {
				t.Errorf("log entry %d: %+v", i, e)
			}
			if !strings.Contains(e.String(), "Rule 0") {
				t.Errorf("log entry prints as %q", e.String())
			}
		case <-ctx.Done():
			t.Fatalf("only %d log entries", i)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("ReadLogs after cancel: %v", err)
	}
}

func TestLoadAndAttachWithoutHookOptions(t *testing.T) {
	testenv.RequireBPF(t)
	for _, src := range []string{
		`chain x BF_HOOK_XDP ACCEPT rule ip4.proto icmp DROP`,
		`chain n BF_HOOK_NF_LOCAL_IN ACCEPT rule ip4.proto icmp DROP`,
	} {
		c, err := engine.LoadAndAttach(parseChain(t, src), engine.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if c.Attachment() != nil {
			t.Errorf("%q: chain without hook options was attached", src)
		}
		if c.Collection() == nil {
			t.Errorf("%q: chain not loaded", src)
		}
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	}
}

func TestRestoreRefusesMismatch(t *testing.T) {
	testenv.RequireBPF(t)
	fs := testenv.NewBPFFS(t)
	eo := engine.Options{BPFFS: fs}
	c, err := engine.Load(parseChain(t, `chain x BF_HOOK_XDP ACCEPT rule ip4.proto icmp DROP`), eo)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Pin("x"); err != nil {
		t.Fatal(err)
	}
	other := parseChain(t, `chain x BF_HOOK_XDP ACCEPT rule ip4.proto icmp DROP rule ip4.proto tcp DROP`)
	if _, err := engine.Restore("x", other, eo); err == nil {
		t.Error("restoring a pinned chain as a chain with more rules succeeded")
	}
	if _, err := engine.Restore("missing", other, eo); err == nil {
		t.Error("restoring from a missing directory succeeded")
	}
	if _, err := engine.Restore("x", other, engine.Options{}); err == nil {
		t.Error("relative restore without a bpffs root succeeded")
	}
}
