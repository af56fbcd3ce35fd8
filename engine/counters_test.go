package engine_test

import (
	"testing"

	"github.com/cilium/ebpf"

	"github.com/bpfilter-go/bpfilter/backend"
	"github.com/bpfilter-go/bpfilter/engine"
	"github.com/bpfilter-go/bpfilter/internal/testenv"
	"github.com/bpfilter-go/bpfilter/internal/testpkt"
)

// runUDP runs the chain's XDP program n times on a UDP packet to port.
func runUDP(t *testing.T, c *engine.Chain, port uint16, n int) {
	t.Helper()
	pkt := testpkt.Ethernet(testpkt.EthIPv4, testpkt.IPv4{
		Src: testpkt.Addr("198.18.0.1"), Dst: testpkt.Addr("198.18.0.2"), Proto: testpkt.ProtoUDP, TTL: 64,
	}.Encode(testpkt.UDP{Sport: 1000, Dport: port}.Encode()))
	prog := c.Collection().Programs[backend.ProgramName]
	for i := 0; i < n; i++ {
		if _, err := prog.Run(&ebpf.RunOptions{Data: pkt}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestReplaceCounters checks which counters Replace carries over: those
// of unchanged rules (wherever they move), the policy and errors; none
// with FreshCounters.
func TestReplaceCounters(t *testing.T) {
	testenv.RequireBPF(t)
	old := `chain x BF_HOOK_XDP ACCEPT
		rule meta.l4_proto udp udp.dport 1 counter DROP
		rule meta.l4_proto udp udp.dport 2 counter DROP`
	c, err := engine.Load(parseChain(t, old), engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	runUDP(t, c, 1, 3)
	runUDP(t, c, 2, 5)
	runUDP(t, c, 9, 7) // policy

	next, err := engine.Load(parseChain(t, `chain x BF_HOOK_XDP ACCEPT
		rule meta.l4_proto udp udp.dport 3 counter DROP
		rule meta.l4_proto udp udp.dport 2 counter DROP`), engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Replace(next); err != nil {
		t.Fatal(err)
	}
	cs := counters(t, c)
	for i, want := range []uint64{0, 5} {
		if got := cs.Rules[i].Packets; got != want {
			t.Errorf("after replace rule %d has %d packets, want %d", i, got, want)
		}
	}
	if cs.Policy.Packets != 7 {
		t.Errorf("policy counter %d after replace, want 7", cs.Policy.Packets)
	}

	fresh, err := engine.Load(parseChain(t, old), engine.Options{FreshCounters: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Replace(fresh); err != nil {
		t.Fatal(err)
	}
	cs = counters(t, c)
	if cs.Rules[1].Packets != 0 || cs.Policy.Packets != 0 {
		t.Errorf("FreshCounters replacement kept counters: %+v", cs)
	}
}
