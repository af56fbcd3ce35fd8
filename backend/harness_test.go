package backend

import (
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/bpfilter-go/bpfilter/internal/testenv"
	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/cilium/ebpf"
)

// loaded is a compiled and loaded chain.
type loaded struct {
	chain *ir.Chain
	prog  *Program
	coll  *ebpf.Collection
}

// compileAndLoad compiles c and loads it, printing the verifier log when
// the kernel refuses the program.
func compileAndLoad(tb testing.TB, c *ir.Chain) *loaded {
	tb.Helper()
	testenv.RequireBPF(tb)
	p, err := Compile(c, Options{})
	if err != nil {
		tb.Fatalf("Compile: %v", err)
	}
	return loadCompiled(tb, c, p)
}

// loadCompiled loads the compiled program p of chain c, closed at the end
// of the test.
func loadCompiled(tb testing.TB, c *ir.Chain, p *Program) *loaded {
	tb.Helper()
	coll, err := ebpf.NewCollectionWithOptions(p.Spec, ebpf.CollectionOptions{})
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			tb.Fatalf("load chain %s: %+v", c.Name, ve)
		}
		tb.Fatalf("load chain %s: %v", c.Name, err)
	}
	tb.Cleanup(func() { coll.Close() })
	return &loaded{chain: c, prog: p, coll: coll}
}

// testPacket is a packet in the shape each flavour's test run needs.
type testPacket struct {
	// frame starts at the Ethernet header.
	frame []byte
	mark  uint32
	// ifindex is the interface the hook reports (see runInput).
	ifindex uint32
	// flowHash is skb->hash (TC; filled by the test from a probe).
	flowHash uint32
	sock     *ir.SockAddr
}

// Interfaces the kernel's test runs report: the loopback device for XDP,
// TC, cgroup_skb (ifindex 1 in the ctx) and netfilter output hooks; no
// input device on netfilter input hooks.
const loIfindex = 1

// nfLocalOut is NF_INET_LOCAL_OUT.
const nfLocalOut = 3

var nfHookNum = map[ir.Hook]uint8{
	ir.HookNFPreRouting: 0, ir.HookNFLocalIn: 1, ir.HookNFForward: 2, ir.HookNFLocalOut: 3, ir.HookNFPostRouting: 4,
}

// evalPacket returns the ir.Packet that ir.Eval must see for p on hook h.
func evalPacket(h ir.Hook, p testPacket) *ir.Packet {
	if p.sock != nil {
		return &ir.Packet{Sock: p.sock}
	}
	ep := &ir.Packet{Mark: p.mark, FlowHash: p.flowHash, Ifindex: loIfindex}
	switch h.Flavour() {
	case ir.FlavourXDP, ir.FlavourTC:
		ep.Data, ep.L2 = p.frame, true
	default:
		ep.Data = p.frame[14:]
		ep.L3Proto = binary.BigEndian.Uint16(p.frame[12:14])
	}
	if h.Flavour() == ir.FlavourNF && h.Ingress() {
		ep.Ifindex = 0
	}
	if h.Flavour() == ir.FlavourNF {
		// Test runs give every hook no input device and loopback as
		// output device (meta.iifname, meta.oifname).
		ep.OutIfName = "lo"
		ep.OutIfindex = loIfindex // the addrtype fields' output device
	}
	if h.Flavour() == ir.FlavourXDP || h.Flavour() == ir.FlavourNF {
		ep.Mark = 0
	}
	ep.PktType, ep.MACHeader = testRunPktMeta(h, p.frame) // pktmatch_test.go
	return ep
}

// runOptions builds the BPF_PROG_TEST_RUN input for p on hook h.
func runOptions(h ir.Hook, p testPacket) (*ebpf.RunOptions, error) {
	switch h.Flavour() {
	case ir.FlavourXDP:
		ctx := make([]byte, 24)
		binary.NativeEndian.PutUint32(ctx[8+4:], loIfindex) // ingress_ifindex
		binary.NativeEndian.PutUint32(ctx[4:], uint32(len(p.frame)))
		return &ebpf.RunOptions{Data: p.frame, Context: ctx}, nil
	case ir.FlavourTC, ir.FlavourCgroupSkb:
		ctx := make([]byte, 192)
		binary.NativeEndian.PutUint32(ctx[skbMark:], p.mark)
		binary.NativeEndian.PutUint32(ctx[skbIfindex:], loIfindex)
		binary.NativeEndian.PutUint32(ctx[skbIngressIfindex:], loIfindex)
		return &ebpf.RunOptions{Data: p.frame, Context: ctx}, nil
	case ir.FlavourNF:
		ctx := make([]byte, 48)
		ctx[0] = nfHookNum[h]
		ctx[1] = nfprotoIPv4
		if binary.BigEndian.Uint16(p.frame[12:14]) == ir.EthPIPv6 {
			ctx[1] = nfprotoIPv6
		}
		data := p.frame
		if ctx[0] == nfLocalOut {
			data = p.frame[14:]
		}
		return &ebpf.RunOptions{Data: data, Context: ctx}, nil
	}
	return nil, fmt.Errorf("no test run for %s", h)
}

// run runs p through the program and returns its return value.
func (l *loaded) run(tb testing.TB, p testPacket) uint32 {
	tb.Helper()
	opts, err := runOptions(l.chain.Hook, p)
	if err != nil {
		tb.Fatal(err)
	}
	ret, err := l.coll.Programs[ProgramName].Run(opts)
	if err != nil {
		tb.Fatalf("test run on %s: packet % x: %v", l.chain.Hook, p.frame, err)
	}
	return ret
}

// expectedRet maps the verdict ir.Eval gives to the program's return value,
// from the kernel's uapi constants (independently of verdictCode).
func expectedRet(h ir.Hook, v ir.Verdict) uint32 {
	type codes struct{ accept, drop, next, redirect int32 }
	tab := map[ir.Flavour]codes{
		ir.FlavourXDP:            {accept: 2, drop: 1, next: 2, redirect: 4},  // XDP_PASS, XDP_DROP, XDP_REDIRECT
		ir.FlavourTC:             {accept: 0, drop: 2, next: -1, redirect: 7}, // TCX_PASS, TCX_DROP, TCX_NEXT, TC_ACT_REDIRECT
		ir.FlavourNF:             {accept: 1, drop: 0, next: 1},               // NF_ACCEPT, NF_DROP
		ir.FlavourCgroupSkb:      {accept: 1, drop: 0, next: 1},
		ir.FlavourCgroupSockAddr: {accept: 1, drop: 0, next: 1},
	}
	c := tab[h.Flavour()]
	switch v.Kind {
	case ir.Drop:
		return uint32(c.drop)
	case ir.Next:
		return uint32(c.next)
	case ir.Redirect:
		return uint32(c.redirect)
	}
	return uint32(c.accept)
}

// counters reads every counter slot summed over CPUs.
func (l *loaded) counters(tb testing.TB) []Counter {
	tb.Helper()
	m := l.coll.Maps[CountersMap]
	out := make([]Counter, CounterEntries(len(l.chain.Rules)))
	for i := range out {
		var per []Counter
		if err := m.Lookup(uint32(i), &per); err != nil {
			tb.Fatalf("read counter %d: %v", i, err)
		}
		for _, c := range per {
			out[i].Packets += c.Packets
			out[i].Bytes += c.Bytes
		}
	}
	return out
}

// packetLen is the length the program counts for p on hook h.
func packetLen(h ir.Hook, p testPacket) uint64 {
	switch h.Flavour() {
	case ir.FlavourXDP, ir.FlavourTC:
		return uint64(len(p.frame))
	case ir.FlavourCgroupSockAddr:
		return 0
	}
	return uint64(len(p.frame) - 14)
}

// check runs p, compares the verdict with ir.Eval and returns the result.
func (l *loaded) check(tb testing.TB, p testPacket) ir.Result {
	tb.Helper()
	res := ir.Eval(nil, l.chain, evalPacket(l.chain.Hook, p))
	got := l.run(tb, p)
	if want := expectedRet(l.chain.Hook, res.Verdict); got != want {
		tb.Errorf("chain %s on %s: packet % x: program returned %d, ir.Eval says %s (rule %d, ret %d)",
			l.chain.Name, l.chain.Hook, p.frame, int32(got), res.Verdict, res.Rule, int32(want))
	}
	return res
}

// checkPacketCounters runs p through l and checks that every counter slot
// moved exactly as ir.Eval's hits, policy and parse error for c say;
// describe names the case in failure messages.
func checkPacketCounters(tb testing.TB, l *loaded, c *ir.Chain, p testPacket, describe func() string) {
	tb.Helper()
	before := l.counters(tb)
	res := l.check(tb, p)
	after := l.counters(tb)
	want := make([]uint64, len(before))
	for _, ht := range res.Hits {
		want[ht.Rule]++
	}
	if res.Rule < 0 {
		want[CounterIndexPolicy(len(c.Rules))]++
	}
	if res.ParseError {
		want[CounterIndexErrors(len(c.Rules))]++
	}
	for i := range want {
		if d := after[i].Packets - before[i].Packets; d != want[i] {
			tb.Errorf("%s: counter %d moved by %d, want %d\nrules:\n%s", describe(), i, d, want[i], chainText(c))
		}
	}
}
