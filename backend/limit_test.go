package backend

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bpfilter-go/bpfilter/internal/testenv"
	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/cilium/ebpf"
)

func limitMatch(avg, burst uint32) ir.Match {
	return ir.Match{Field: ir.MetaLimit, Op: ir.OpEq, Value: ir.Limit{Avg: avg, Burst: burst}.Value()}
}

// perSecond is the Limit.Avg of N packets a second.
func perSecond(n uint32) uint32 { return ir.LimitScale / n }

// oneAnHour never refills during a test.
const oneAnHour = ir.LimitScale * 3600

func nfAccepted(ret uint32) bool { return ret == 1 }

// TestLimitBurstKernel: "--limit 1/sec --limit-burst N -j ACCEPT", a
// counting rule, DROP policy: exactly N packets of a fast burst are
// accepted, the rule after the limit sees the rest, and the limit rule's
// counter is N.
func TestLimitBurstKernel(t *testing.T) {
	for _, burst := range []uint32{1, 5, 7} {
		c := &ir.Chain{Name: "limit_burst", Hook: ir.HookNFLocalIn, Policy: ir.Verdict{Kind: ir.Drop}, Rules: []*ir.Rule{
			{Matches: []ir.Match{limitMatch(perSecond(1), burst)}, Verdict: ir.Verdict{Kind: ir.Accept}},
			{Matches: []ir.Match{{Field: ir.TCPDport, Op: ir.OpEq, Value: []byte{0, 80}}}, Verdict: ir.Verdict{Kind: ir.Continue}},
		}}
		l := compileAndLoad(t, c)
		p := testPacket{frame: tcp4("198.18.0.1", "198.18.0.2", 1234, 80, 0x02)}
		const sent = 20
		accepted := 0
		for i := 0; i < sent; i++ {
			if nfAccepted(l.run(t, p)) {
				accepted++
			}
		}
		if accepted != int(burst) {
			t.Errorf("burst %d: %d of %d packets accepted", burst, accepted, sent)
		}
		cs := l.counters(t)
		if cs[0].Packets != uint64(burst) || cs[1].Packets != uint64(sent-int(burst)) ||
			cs[CounterIndexPolicy(len(c.Rules))].Packets != uint64(sent-int(burst)) {
			t.Errorf("burst %d: counters limit %d, next rule %d, policy %d", burst, cs[0].Packets, cs[1].Packets, cs[CounterIndexPolicy(len(c.Rules))].Packets)
		}
	}
}

// TestLimitRefillKernel: 10/sec with a burst of 5, emptied, then 300 ms
// later about 3 more packets pass (bounded wait, tolerant count: the
// jiffies elapsed depend on scheduling).
func TestLimitRefillKernel(t *testing.T) {
	c := &ir.Chain{Name: "limit_refill", Hook: ir.HookNFLocalIn, Policy: ir.Verdict{Kind: ir.Drop}, Rules: []*ir.Rule{
		{Matches: []ir.Match{limitMatch(perSecond(10), 5)}, Verdict: ir.Verdict{Kind: ir.Accept}},
	}}
	l := compileAndLoad(t, c)
	p := testPacket{frame: tcp4("198.18.0.1", "198.18.0.2", 1234, 80, 0x02)}
	burst := func() int {
		n := 0
		for i := 0; i < 10; i++ {
			if nfAccepted(l.run(t, p)) {
				n++
			}
		}
		return n
	}
	if n := burst(); n != 5 {
		t.Fatalf("first burst: %d accepted, want 5", n)
	}
	time.Sleep(300 * time.Millisecond)
	if n := burst(); n < 2 || n > 4 {
		t.Fatalf("after 300 ms at 10/sec: %d accepted, want 2 to 4", n)
	}
}

// TestLimitMatchesEval compares the program with ir.Eval packet by packet
// for limits placed before and after other matches, two limits in one
// rule, negation and a CONTINUE rule; the rates never refill during the
// test, so ir.Eval's clock can stand still.
func TestLimitMatchesEval(t *testing.T) {
	dport := func(p uint16) ir.Match {
		return ir.Match{Field: ir.TCPDport, Op: ir.OpEq, Value: []byte{byte(p >> 8), byte(p)}}
	}
	neg := limitMatch(oneAnHour, 2)
	neg.Negate = true
	c := &ir.Chain{Name: "limit_eval", Hook: ir.HookNFLocalIn, Policy: ir.Verdict{Kind: ir.Accept}, Rules: []*ir.Rule{
		// Only port 22 packets reach this limit.
		{Matches: []ir.Match{dport(22), limitMatch(oneAnHour, 3)}, Verdict: ir.Verdict{Kind: ir.Drop}},
		// Every packet takes a token here, port 23 or not.
		{Matches: []ir.Match{limitMatch(oneAnHour, 4), dport(23)}, Verdict: ir.Verdict{Kind: ir.Drop}},
		// Two buckets: the second is reached only when the first held.
		{Matches: []ir.Match{limitMatch(oneAnHour, 6), dport(24), limitMatch(oneAnHour, 2)}, Verdict: ir.Verdict{Kind: ir.Continue}},
		// Negated: holds once the bucket is empty.
		{Matches: []ir.Match{dport(25), neg}, Verdict: ir.Verdict{Kind: ir.Drop}},
		// A UDP match after the limit: its guard is checked after the token.
		{Matches: []ir.Match{limitMatch(oneAnHour, 3), {Field: ir.UDPDport, Op: ir.OpEq, Value: []byte{0, 53}}}, Verdict: ir.Verdict{Kind: ir.Drop}},
	}}
	l := compileAndLoad(t, c)
	st := &ir.LimitState{HZ: kernelHZ(t)}
	var decided [6]int
	for i := 0; i < 40; i++ {
		port := uint16(20 + i%7)
		p := testPacket{frame: tcp4("198.18.0.1", "198.18.0.2", 1234, port, 0x02)}
		ep := evalPacket(c.Hook, p)
		ep.Limits = st
		res := ir.Eval(nil, c, ep)
		if got, want := l.run(t, p), expectedRet(c.Hook, res.Verdict); got != want {
			t.Fatalf("packet %d (port %d): program returned %d, ir.Eval says %s by rule %d", i, port, got, res.Verdict, res.Rule)
		}
		decided[res.Rule+1]++
	}
	if decided[1] != 3 || decided[2] != 1 || decided[4] == 0 {
		t.Errorf("decisions by rule (policy first): %v", decided)
	}
}

// TestLimitUserChainShared: a user chain's limit is one bucket for all
// its call sites, as in netfilter.
func TestLimitUserChainShared(t *testing.T) {
	testenv.RequireBPF(t)
	user := &ir.Chain{Name: "dos", Hook: ir.HookNFLocalIn, User: true, Rules: []*ir.Rule{
		{Matches: []ir.Match{limitMatch(oneAnHour, 4)}, Verdict: ir.Verdict{Kind: ir.Return}},
		{Verdict: ir.Verdict{Kind: ir.Drop}},
	}}
	base := &ir.Chain{Name: "in", Hook: ir.HookNFLocalIn, Policy: ir.Verdict{Kind: ir.Accept}, Rules: []*ir.Rule{
		{Matches: []ir.Match{{Field: ir.TCPDport, Op: ir.OpEq, Value: []byte{0, 80}}}, Verdict: ir.Verdict{Kind: ir.Jump, Chain: "dos"}},
		{Verdict: ir.Verdict{Kind: ir.Jump, Chain: "dos"}},
	}}
	rs := &ir.Ruleset{Chains: []*ir.Chain{base, user}}
	prog, err := CompileInRuleset(rs, base, Options{})
	if err != nil {
		t.Fatal(err)
	}
	coll, err := ebpf.NewCollection(prog.Spec)
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			t.Fatalf("%+v", ve)
		}
		t.Fatal(err)
	}
	defer coll.Close()
	l := &loaded{chain: base, prog: prog, coll: coll}
	st := &ir.LimitState{HZ: kernelHZ(t)}
	accepted := 0
	for i := 0; i < 12; i++ {
		p := testPacket{frame: tcp4("198.18.0.1", "198.18.0.2", 1234, uint16(79+i%2), 0x02)}
		ep := evalPacket(base.Hook, p)
		ep.Limits = st
		res := ir.Eval(rs, base, ep)
		got := l.run(t, p)
		if want := expectedRet(base.Hook, res.Verdict); got != want {
			t.Fatalf("packet %d: program returned %d, ir.Eval says %s", i, got, res.Verdict)
		}
		if nfAccepted(got) {
			accepted++
		}
	}
	// Port 79 takes one token (second call site), port 80 two (both): 79,
	// 80, 79 pass and empty the one bucket of 4; per-site buckets would
	// let more through.
	if accepted != 3 {
		t.Fatalf("%d packets accepted through both call sites, want 3", accepted)
	}
}

// TestLimitConcurrent runs packets from several goroutines at once: the
// spin lock lets exactly the burst through.
func TestLimitConcurrent(t *testing.T) {
	c := &ir.Chain{Name: "limit_conc", Hook: ir.HookNFLocalIn, Policy: ir.Verdict{Kind: ir.Drop}, Rules: []*ir.Rule{
		{Matches: []ir.Match{limitMatch(ir.LimitScale*60, 150)}, Verdict: ir.Verdict{Kind: ir.Accept}},
	}}
	l := compileAndLoad(t, c)
	opts, err := runOptions(c.Hook, testPacket{frame: tcp4("198.18.0.1", "198.18.0.2", 1234, 80, 0x02)})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	accepted, failures := 0, 0
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, bad := 0, 0
			for i := 0; i < 100; i++ {
				o := *opts
				ret, err := l.coll.Programs[ProgramName].Run(&o)
				if err != nil {
					bad++
					continue
				}
				if nfAccepted(ret) {
					n++
				}
			}
			mu.Lock()
			accepted += n
			failures += bad
			mu.Unlock()
		}()
	}
	wg.Wait()
	if failures > 0 {
		t.Fatalf("%d test runs failed", failures)
	}
	if accepted != 150 {
		t.Fatalf("%d of 400 concurrent packets accepted, want the burst of 150", accepted)
	}
}

// TestLimitRefused: what xt_limit's checkentry refuses, Compile refuses.
func TestLimitRefused(t *testing.T) {
	for _, m := range []ir.Match{limitMatch(perSecond(1), 0), limitMatch(ir.LimitScale*86400, 10000), limitMatch(0, 5)} {
		c := &ir.Chain{Name: "bad", Hook: ir.HookNFLocalIn, Policy: ir.Verdict{Kind: ir.Accept}, Rules: []*ir.Rule{
			{Matches: []ir.Match{m}, Verdict: ir.Verdict{Kind: ir.Drop}},
		}}
		if _, err := Compile(c, Options{HZ: 250}); err == nil {
			t.Errorf("%s compiled", m)
		}
	}
}

func kernelHZ(t *testing.T) uint32 {
	t.Helper()
	hz, err := KernelHZ()
	if err != nil {
		t.Skipf("kernel HZ unknown: %v", err)
	}
	return hz
}

// TestLimitManyRules: 3000 limit rules (split over tail-called programs)
// load, and the last one limits its port: the bucket code is one global
// function the verifier checks once.
func TestLimitManyRules(t *testing.T) {
	const n = 3000
	c := &ir.Chain{Name: "many_limits", Hook: ir.HookNFLocalIn, Policy: ir.Verdict{Kind: ir.Accept}}
	for i := 0; i < n; i++ {
		c.Rules = append(c.Rules, &ir.Rule{Matches: []ir.Match{{Field: ir.TCPDport, Op: ir.OpEq, Value: []byte{byte(i >> 8), byte(i)}}, limitMatch(oneAnHour, 2)},
			Verdict: ir.Verdict{Kind: ir.Drop}})
	}
	l := compileAndLoad(t, c)
	p := testPacket{frame: tcp4("198.18.0.1", "198.18.0.2", 1234, n-1, 0x02)}
	var got []bool
	for i := 0; i < 4; i++ {
		got = append(got, nfAccepted(l.run(t, p)))
	}
	if want := []bool{false, false, true, true}; !slices.Equal(got, want) {
		t.Fatalf("accepted %v, want %v (two dropped by the burst, then the limit no longer matches)", got, want)
	}
}

// TestMeasureHZMatchesConfig: the jiffies a BPF program sees advance at
// the configuration's HZ, which backs both the configuration reader and
// the measuring fallback.
func TestMeasureHZMatchesConfig(t *testing.T) {
	testenv.RequireBPF(t)
	hz := kernelHZ(t)
	var got uint32
	var err error
	for try := 0; try < 3; try++ { // a loaded machine can skew one measure
		if got, err = MeasureHZ(200 * time.Millisecond); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	if got != hz {
		t.Fatalf("measured HZ %d, configuration says %d", got, hz)
	}
}
