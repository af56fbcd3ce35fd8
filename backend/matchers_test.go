package backend

import (
	"testing"

	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// matcherCases returns matches over every field of the table, with eq,
// range, any/all, masks (prefixes) and, for each, its negation.
func matcherCases(tb testing.TB) []ir.Match {
	tb.Helper()
	e := func(f ir.Field, s string) ir.Match { return eqMatch(tb, f, s, false) }
	r := func(f ir.Field, lo, hi string) ir.Match {
		l, _ := mustParse(tb, f, lo)
		h, _ := mustParse(tb, f, hi)
		return ir.Match{Field: f, Op: ir.OpRange, Value: l, High: h}
	}
	flags := func(op ir.Op, s string) ir.Match {
		v, _ := mustParse(tb, ir.TCPFlags, s)
		return ir.Match{Field: ir.TCPFlags, Op: op, Value: v}
	}
	cases := []ir.Match{
		e(ir.MetaIface, "1"), e(ir.MetaIface, "2"),
		e(ir.MetaL3Proto, "ipv4"), e(ir.MetaL3Proto, "ipv6"), e(ir.MetaL3Proto, "0x0806"),
		e(ir.MetaL4Proto, "6"), e(ir.MetaL4Proto, "17"), e(ir.MetaL4Proto, "1"), e(ir.MetaL4Proto, "58"),
		e(ir.MetaProbability, "0%"), e(ir.MetaProbability, "100%"),
		e(ir.MetaSport, "1234"), r(ir.MetaSport, "1000", "1499"), e(ir.MetaDport, "80"), r(ir.MetaDport, "81", "5353"),
		e(ir.MetaMark, "0x10"), e(ir.MetaMark, "0"),
		e(ir.MetaFlowProbability, "100%"), e(ir.MetaFlowProbability, "50%"), e(ir.MetaFlowProbability, "0%"),
		e(ir.MetaFlowProbability, "20%"), e(ir.MetaFlowProbability, "80%"),
		e(ir.IP4Saddr, "198.18.0.1"), e(ir.IP4Daddr, "198.18.0.2"), e(ir.IP4Snet, "198.18.0.0/24"),
		e(ir.IP4Dnet, "198.18.1.0/24"), e(ir.IP4Snet, "0.0.0.0/0"), e(ir.IP4Dnet, "198.18.1.4/32"),
		e(ir.IP4Proto, "6"), e(ir.IP4Proto, "17"), e(ir.IP4DSCP, "46"), e(ir.IP4DSCP, "10"),
		e(ir.IP6Saddr, "2001:db8::1"), e(ir.IP6Daddr, "2001:db8::2"), e(ir.IP6Snet, "2001:db8::/64"),
		e(ir.IP6Dnet, "2001:db8:0:1::/64"), e(ir.IP6Snet, "2001:db8:1::/48"), e(ir.IP6Snet, "2001:db8::/100"),
		e(ir.IP6Dnet, "::/0"), e(ir.IP6Nexthdr, "6"), e(ir.IP6Nexthdr, "0"), e(ir.IP6DSCP, "46"),
		e(ir.TCPSport, "1234"), r(ir.TCPSport, "1300", "1600"), e(ir.TCPDport, "80"), r(ir.TCPDport, "400", "500"),
		e(ir.TCPFlags, "syn"), flags(ir.OpAny, "fin,ack"), flags(ir.OpAll, "syn,ack"),
		e(ir.UDPSport, "53"), e(ir.UDPDport, "5353"), r(ir.UDPDport, "1", "100"),
		e(ir.ICMPType, "8"), e(ir.ICMPCode, "1"), e(ir.ICMPv6Type, "128"), e(ir.ICMPv6Code, "4"),
	}
	cases = append(cases, pktMatchCases(tb)...) // iptables packet matches (pktmatch_test.go)
	n := len(cases)
	for i := 0; i < n; i++ {
		neg := cases[i]
		neg.Negate = true
		cases = append(cases, neg)
	}
	return cases
}

// flowHashProbe loads a TC program returning bpf_get_hash_recalc(skb), to
// learn the skb->hash the kernel computes for a frame.
func flowHashProbe(tb testing.TB) func([]byte) uint32 {
	tb.Helper()
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:    ebpf.SchedCLS,
		License: "GPL",
		Instructions: asm.Instructions{
			asm.FnGetHashRecalc.Call(),
			asm.Return(),
		},
	})
	if err != nil {
		tb.Fatalf("load flow hash probe: %v", err)
	}
	tb.Cleanup(func() { prog.Close() })
	return func(frame []byte) uint32 {
		ret, err := prog.Run(&ebpf.RunOptions{Data: frame})
		if err != nil {
			tb.Fatalf("flow hash probe: packet % x: %v", frame, err)
		}
		return ret
	}
}

// TestMatchersEveryHook compiles, for each packet hook, a chain with one
// CONTINUE rule per matcher case valid on the hook, runs the packet pool
// through it and checks, per packet, that the rules whose counters moved
// are exactly the rules ir.Eval says matched, that the error counter moved
// exactly on parse errors and that the policy counted the bytes. Each field
// must both match and miss at least once on each hook.
func TestMatchersEveryHook(t *testing.T) {
	for _, h := range ir.Hooks() {
		if h.IsSockAddr() {
			continue
		}
		t.Run(h.String(), func(t *testing.T) {
			var hash func([]byte) uint32
			if h.Flavour() == ir.FlavourTC {
				hash = flowHashProbe(t)
			}
			cases := matcherCases(t)
			pool := packetPool()
			if hash != nil {
				h0 := hash(pool[0].frame)
				hv := ir.KindU32.UintValue(uint64(h0))
				cases = append(cases,
					ir.Match{Field: ir.MetaFlowHash, Op: ir.OpEq, Value: hv},
					ir.Match{Field: ir.MetaFlowHash, Op: ir.OpRange, Value: ir.KindU32.UintValue(0), High: ir.KindU32.UintValue(0x7fffffff)},
					ir.Match{Field: ir.MetaFlowHash, Op: ir.OpRange, Value: ir.KindU32.UintValue(0x80000000), High: ir.KindU32.UintValue(0xffffffff), Negate: true},
				)
			}
			c := &ir.Chain{Name: "matchers", Hook: h, Policy: ir.Verdict{Kind: ir.Accept}}
			for i := range cases {
				if cases[i].Field.ValidOn(h) {
					c.Rules = append(c.Rules, &ir.Rule{Matches: []ir.Match{cases[i]}, Verdict: ir.Verdict{Kind: ir.Continue}})
				}
			}
			// The same cases again, each with a second match that always
			// holds, so that they go through the branch-free code of rules
			// with several compares (combine.go).
			always := eqMatch(t, ir.MetaL3Proto, "0x1234", true)
			for i := range cases {
				if cases[i].Field.ValidOn(h) {
					c.Rules = append(c.Rules, &ir.Rule{Matches: []ir.Match{cases[i], always}, Verdict: ir.Verdict{Kind: ir.Continue}})
				}
			}
			addSetRules(t, c)
			l := compileAndLoad(t, c)
			hit, miss := map[string]bool{}, map[string]bool{}
			for i, pk := range pool {
				if !usableOn(h, pk.frame) {
					continue
				}
				p := testPacket{frame: pk.frame}
				if i%2 == 0 {
					p.mark = 0x10
				}
				if hash != nil {
					p.flowHash = hash(pk.frame)
					t.Logf("%s: skb->hash %#x", pk.name, p.flowHash)
				}
				before := l.counters(t)
				res := l.check(t, p)
				after := l.counters(t)
				matched := map[int]bool{}
				for _, ht := range res.Hits {
					matched[ht.Rule] = true
				}
				for ri, r := range c.Rules {
					key := ruleKey(c, r)
					if matched[ri] {
						hit[key] = true
					} else {
						miss[key] = true
					}
					if d := after[ri].Packets - before[ri].Packets; d != b2u(matched[ri]) {
						t.Errorf("%s: rule %d (%s): counter moved by %d, ir.Eval says matched=%v", pk.name, ri, ruleSummary(c, r), d, matched[ri])
					}
				}
				ne := CounterIndexErrors(len(c.Rules))
				if d := after[ne].Packets - before[ne].Packets; d != b2u(res.ParseError) {
					t.Errorf("%s: error counter moved by %d, ir.Eval parse error=%v", pk.name, d, res.ParseError)
				}
				np := CounterIndexPolicy(len(c.Rules))
				wantPolicy := packetLen(h, p)
				if res.HotDrop { // a tcp.option rule dropped it (pktmatch.go)
					wantPolicy = 0
				}
				if d, want := after[np].Bytes-before[np].Bytes, wantPolicy; d != want {
					t.Errorf("%s: policy counted %d bytes, want %d", pk.name, d, want)
				}
			}
			for _, r := range c.Rules {
				key := ruleKey(c, r)
				if !hit[key] || !miss[key] {
					// Per field, not per case: meta.iface is constant in a test run.
					_ = key
				}
			}
			checkFieldCoverage(t, h, c, hit, miss)
		})
	}
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// ruleKey names the field (or set) a single-match rule tests.
func ruleKey(c *ir.Chain, r *ir.Rule) string {
	m := r.Matches[0]
	prefix := ""
	if len(r.Matches) > 1 {
		prefix = "combined "
	}
	if m.Op == ir.OpIn {
		return prefix + "set " + m.Set
	}
	return prefix + m.Field.String()
}

// checkFieldCoverage fails when a field never matched or never missed over
// the pool: such a test could not fail.
func checkFieldCoverage(t *testing.T, h ir.Hook, c *ir.Chain, hit, miss map[string]bool) {
	t.Helper()
	fieldHit, fieldMiss := map[string]bool{}, map[string]bool{}
	for _, r := range c.Rules {
		k := ruleKey(c, r)
		fieldHit[k] = fieldHit[k] || hit[k]
		fieldMiss[k] = fieldMiss[k] || miss[k]
	}
	for k := range fieldHit {
		if !fieldHit[k] || !fieldMiss[k] {
			t.Errorf("on %s, %s: hit=%v miss=%v over the pool; the test cannot tell right from wrong", h, k, fieldHit[k], fieldMiss[k])
		}
	}
}
