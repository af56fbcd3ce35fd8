package backend

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/bpfilter-go/bpfilter/ir"
)

// addrTypeTable is a crafted local table: routes via loopback (ifindex 1,
// the output device of test runs) and via another device.
var addrTypeTable = &ir.LocalRoutes{Routes: []ir.LocalRoute{
	{Addr: [4]byte{127, 0, 0, 0}, Len: 8, Type: ir.RTNLocal, Ifindex: 1},
	{Addr: [4]byte{127, 255, 255, 255}, Len: 32, Type: ir.RTNBroadcast, Ifindex: 1},
	{Addr: [4]byte{198, 18, 0, 1}, Len: 32, Type: ir.RTNLocal, Ifindex: 2},
	{Addr: [4]byte{198, 18, 0, 255}, Len: 32, Type: ir.RTNBroadcast, Ifindex: 2},
	{Addr: [4]byte{198, 18, 1, 0}, Len: 24, Type: ir.RTNAnycast, Ifindex: 1},
	{Addr: [4]byte{198, 18, 1, 128}, Len: 25, Type: ir.RTNUnicast, Ifindex: 0},
}}

// TestAddrTypeMatchesEval loads address type matches, fills the lookup
// map with a crafted table and compares the program's verdict with
// ir.Eval given the same table, for every field, both families, negated
// or not, on every netfilter hook.
func TestAddrTypeMatchesEval(t *testing.T) {
	var ms []ir.Match
	fields := []ir.Field{ir.AddrSType, ir.AddrDType, ir.AddrSTypeIif, ir.AddrDTypeIif, ir.AddrSTypeOif, ir.AddrDTypeOif}
	masks := []uint16{1 << ir.RTNLocal, 1 << ir.RTNUnicast, 1 << ir.RTNBroadcast, 1 << ir.RTNMulticast,
		1 << ir.RTNAnycast, 1<<ir.RTNUnicast | 1<<ir.RTNLocal, 1 << ir.RTNUnspec, 1<<ir.RTNUnicast | 1<<ir.RTNMulticast}
	for _, f := range fields {
		for _, m := range masks {
			for _, op := range []ir.Op{ir.OpAny, ir.OpAll} {
				for _, neg := range []bool{false, true} {
					ms = append(ms, ir.Match{Field: f, Op: op, Negate: neg, Value: []byte{byte(m >> 8), byte(m)}})
				}
			}
		}
	}
	addrs4 := []string{"127.0.0.1", "127.255.255.255", "198.18.0.1", "198.18.0.255", "198.18.0.7", "198.18.1.5",
		"198.18.1.200", "0.0.0.0", "0.1.2.3", "255.255.255.255", "224.0.0.1", "239.1.2.3", "240.0.0.1", "8.8.8.8"}
	addrs6 := []string{"::", "::1", "::ffff:198.18.0.1", "ff02::1", "fe80::1", "fd00:198:18::1", "2001:db8::1", "::198.18.0.1"}
	var frames [][]byte
	for i, a := range addrs4 {
		b := addrs4[(i+3)%len(addrs4)]
		frames = append(frames, tcp4(a, b, 1, 2, 0x02))
	}
	for i, a := range addrs6 {
		b := addrs6[(i+3)%len(addrs6)]
		frames = append(frames, tcp6(a, b, 1, 2, 0x02))
	}
	for _, h := range []ir.Hook{ir.HookNFLocalIn, ir.HookNFForward, ir.HookNFLocalOut} {
		// One chain of rules that each count and continue, so one load
		// checks every match; the counters say which held.
		c := &ir.Chain{Name: "addrtype", Hook: h, Policy: ir.Verdict{Kind: ir.Accept}}
		for _, m := range ms {
			c.Rules = append(c.Rules, &ir.Rule{Matches: []ir.Match{m}, Counter: true, Verdict: ir.Verdict{Kind: ir.Continue}})
		}
		// Several matches in one rule (the branch-free path of other
		// fields), then the verdict.
		c.Rules = append(c.Rules, &ir.Rule{Matches: []ir.Match{
			{Field: ir.TCPDport, Op: ir.OpEq, Value: []byte{0, 2}},
			{Field: ir.AddrSTypeOif, Op: ir.OpAny, Value: []byte{0, 1<<ir.RTNLocal | 1<<ir.RTNUnicast}},
			{Field: ir.IP4Proto, Op: ir.OpEq, Value: []byte{ir.ProtoTCP}},
			{Field: ir.AddrDType, Op: ir.OpAny, Negate: true, Value: []byte{0, 1 << ir.RTNBroadcast}},
		}, Counter: true, Verdict: ir.Verdict{Kind: ir.Continue}})
		c.Rules = append(c.Rules, &ir.Rule{Matches: []ir.Match{{Field: ir.AddrDType, Op: ir.OpAny, Value: []byte{0, 1 << ir.RTNLocal}}, {Field: ir.MetaL4Proto, Op: ir.OpEq, Value: []byte{ir.ProtoTCP}}}, Verdict: ir.Verdict{Kind: ir.Drop}})
		l := compileAndLoad(t, c)
		am, ok := l.coll.Maps[AddrTypeMap]
		if !ok {
			t.Fatalf("%s: no %s map", h, AddrTypeMap)
		}
		for _, r := range addrTypeTable.Routes {
			if err := am.Put(AddrTypeKey(r), AddrTypeValue(r)); err != nil {
				t.Fatalf("fill %s: %v", AddrTypeMap, err)
			}
		}
		hits := 0
		for _, fr := range frames {
			p := testPacket{frame: fr}
			ep := evalPacket(h, p)
			ep.LocalRoutes = addrTypeTable
			res := ir.Eval(nil, c, ep)
			before := l.counters(t)
			if got, want := l.run(t, p), expectedRet(h, res.Verdict); got != want {
				t.Errorf("%s: packet % x: program returned %d, ir.Eval says %s", h, fr[14:], int32(got), res.Verdict)
			}
			after := l.counters(t)
			want := make(map[int]bool)
			for _, ht := range res.Hits {
				want[ht.Rule] = true
			}
			for i := range ms {
				if moved := after[i].Packets != before[i].Packets; moved != want[i] {
					t.Errorf("%s: packet % x: %s held = %v, ir.Eval says %v", h, fr[14+8:14+40], ms[i], moved, want[i])
				}
			}
			hits += len(res.Hits)
		}
		if hits == 0 || hits == len(frames)*len(ms) {
			t.Errorf("%s: %d hits: the cases do not cover both outcomes", h, hits)
		}
	}
}

// TestAddrTypeMapOnlyWhenUsed: chains without address type matches have
// no lookup map.
func TestAddrTypeMapOnlyWhenUsed(t *testing.T) {
	c := &ir.Chain{Name: "plain", Hook: ir.HookNFLocalIn, Policy: ir.Verdict{Kind: ir.Accept}, Rules: []*ir.Rule{
		{Matches: []ir.Match{{Field: ir.CtState, Op: ir.OpAny, Value: ir.KindCtState.UintValue(ir.CtStateNew)}}, Verdict: ir.Verdict{Kind: ir.Drop}},
	}}
	p, err := Compile(c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.Spec.Maps[AddrTypeMap]; ok {
		t.Errorf("chain without addrtype matches has %s", AddrTypeMap)
	}
	c.Rules[0].Matches[0] = ir.Match{Field: ir.AddrSType, Op: ir.OpAny, Value: []byte{0, 4}}
	if p, err = Compile(c, Options{}); err != nil {
		t.Fatal(err)
	}
	if _, ok := p.Spec.Maps[AddrTypeMap]; !ok {
		t.Errorf("chain with addrtype matches has no %s", AddrTypeMap)
	}
	c.Hook = ir.HookTCIngress
	if _, err := Compile(c, Options{}); err == nil {
		t.Errorf("addrtype on TC compiled")
	}
}

// BenchmarkAddrType measures the per-packet cost of n address type
// matches (an LPM lookup each, the map holding a 1000-route table) next
// to n destination address compares, on NF_INET_LOCAL_OUT.
func BenchmarkAddrType(b *testing.B) {
	frame := tcp4("198.18.0.1", "198.18.200.7", 1234, 80, 0)
	for _, kind := range []string{"addrtype", "daddr"} {
		for _, n := range []int{1, 10} {
			b.Run(fmt.Sprintf("%s/rules=%d", kind, n), func(b *testing.B) {
				c := &ir.Chain{Name: "bench", Hook: ir.HookNFLocalOut, Policy: ir.Verdict{Kind: ir.Accept}}
				for i := 0; i < n; i++ {
					m := ir.Match{Field: ir.AddrDType, Op: ir.OpAny, Value: []byte{0, 1 << ir.RTNLocal}}
					if kind == "daddr" {
						m = ir.Match{Field: ir.IP4Daddr, Value: []byte{10, 0, 0, byte(i)}}
					}
					c.Rules = append(c.Rules, &ir.Rule{Matches: []ir.Match{m}, Verdict: ir.Verdict{Kind: ir.Drop}})
				}
				l := compileAndLoad(b, c)
				if am := l.coll.Maps[AddrTypeMap]; am != nil {
					for i := 0; i < 1000; i++ {
						r := ir.LocalRoute{Addr: [4]byte{198, 18, byte(i >> 8), byte(i)}, Len: 32, Type: ir.RTNLocal, Ifindex: 2}
						if err := am.Put(AddrTypeKey(r), AddrTypeValue(r)); err != nil {
							b.Fatal(err)
						}
					}
				}
				benchPacket(b, l, ir.HookNFLocalOut, frame, expectedRet(ir.HookNFLocalOut, ir.Verdict{Kind: ir.Accept}))
			})
		}
	}
}

// TestAddrTypeWithLookups: many rules of one shape (an address the
// optimiser turns into a table lookup) each with an address type match
// too; verdicts and counters as ir.Eval says.
func TestAddrTypeWithLookups(t *testing.T) {
	c := &ir.Chain{Name: "atlookup", Hook: ir.HookNFLocalIn, Policy: ir.Verdict{Kind: ir.Accept}}
	for i := 0; i < 64; i++ {
		mask := uint16(1 << ir.RTNLocal)
		if i%2 == 1 {
			mask = 1<<ir.RTNUnicast | 1<<ir.RTNBroadcast
		}
		c.Rules = append(c.Rules, &ir.Rule{Matches: []ir.Match{
			{Field: ir.IP4Daddr, Value: []byte{198, 18, 0, byte(i)}},
			{Field: ir.AddrSType, Op: ir.OpAny, Negate: i%3 == 0, Value: []byte{byte(mask >> 8), byte(mask)}},
		}, Counter: true, Verdict: ir.Verdict{Kind: ir.Drop}})
	}
	l := compileAndLoad(t, c)
	am := l.coll.Maps[AddrTypeMap]
	for _, r := range addrTypeTable.Routes {
		if err := am.Put(AddrTypeKey(r), AddrTypeValue(r)); err != nil {
			t.Fatal(err)
		}
	}
	drops := 0
	for _, src := range []string{"198.18.0.1", "198.18.0.255", "198.18.0.9", "127.0.0.1", "0.0.0.0", "198.18.1.5"} {
		for _, d := range []int{0, 1, 2, 3, 5, 6, 63, 64, 200} {
			p := testPacket{frame: tcp4(src, "198.18.0."+strconv.Itoa(d), 1, 2, 0x02)}
			ep := evalPacket(c.Hook, p)
			ep.LocalRoutes = addrTypeTable
			res := ir.Eval(nil, c, ep)
			if got, want := l.run(t, p), expectedRet(c.Hook, res.Verdict); got != want {
				t.Errorf("%s > 198.18.0.%d: program returned %d, ir.Eval says %s (rule %d)", src, d, int32(got), res.Verdict, res.Rule)
			}
			if res.Verdict.Kind == ir.Drop {
				drops++
			}
		}
	}
	if drops == 0 {
		t.Error("no packet dropped: the cases test nothing")
	}
	t.Logf("plan: %s", l.prog.Plan.Strategy())
}
