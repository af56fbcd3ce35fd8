package backend

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/bpfilter-go/bpfilter/optimizer"
	"github.com/bpfilter-go/bpfilter/optimizer/rulegen"
)

// TestDir16FilterKernel: an IPv4 source filter over five tables whose
// /16 buckets are direct (a short cover prefix, long prefixes of at most
// two tables) or refined through the filter map (long prefixes of many
// tables); the kernel's verdicts and counters equal ir.Eval for addresses
// in every kind of bucket, hits and misses.
func TestDir16FilterKernel(t *testing.T) {
	a := func(s string) []byte { return netip.MustParseAddr(s).AsSlice() }
	eq := func(f ir.Field, v []byte) ir.Match { return ir.Match{Field: f, Op: ir.OpEq, Value: v} }
	pfx := func(s string, l int) ir.Match {
		m := ir.PrefixMask(l, 4)
		v := a(s)
		for i := range v {
			v[i] &= m[i]
		}
		return ir.Match{Field: ir.IP4Snet, Op: ir.OpEq, Value: v, Mask: m}
	}
	udp := eq(ir.MetaL4Proto, []byte{ir.ProtoUDP})
	drop, accept := ir.Verdict{Kind: ir.Drop}, ir.Verdict{Kind: ir.Accept}
	c := &ir.Chain{Name: "dir16", Hook: ir.HookXDP, Policy: accept}
	add := func(v ir.Verdict, ms ...ir.Match) {
		c.Rules = append(c.Rules, &ir.Rule{Counter: true, Verdict: v, Matches: ms})
	}
	// Table of /8 and /20 prefixes with the protocol (a cover for 10.0.0.0/8).
	add(accept, pfx("10.0.0.0", 8), udp)
	add(drop, pfx("10.2.16.0", 20), udp)
	// Host table, with hosts in 10.1/16 and 10.2/16.
	for i := 1; i <= 6; i++ {
		add(drop, eq(ir.IP4Saddr, a(fmt.Sprintf("10.1.0.%d", i))))
	}
	add(drop, eq(ir.IP4Saddr, a("10.2.0.9")))
	// Host pair table, /24 table: more long prefixes in 10.1/16.
	add(drop, eq(ir.IP4Saddr, a("10.1.0.20")), eq(ir.IP4Daddr, a("198.18.1.1")))
	add(accept, eq(ir.IP4Saddr, a("10.1.0.21")), eq(ir.IP4Daddr, a("198.18.1.2")))
	add(drop, pfx("10.1.5.0", 24), eq(ir.MetaL4Proto, []byte{ir.ProtoTCP}))
	add(drop, pfx("10.1.6.0", 24), eq(ir.MetaL4Proto, []byte{ir.ProtoTCP}))
	add(drop, pfx("10.1.7.0", 24))
	add(drop, pfx("10.1.8.0", 23))
	// Two more shapes with hosts in 10.1/16 (more than two tables there).
	add(drop, eq(ir.IP4Saddr, a("10.1.0.30")), eq(ir.MetaIface, []byte{0, 0, 0, loIfindex}))
	add(drop, eq(ir.IP4Saddr, a("10.1.0.31")), eq(ir.MetaIface, []byte{0, 0, 0, 7}))
	add(drop, eq(ir.IP4Saddr, a("10.1.0.32")), eq(ir.MetaL4Proto, []byte{ir.ProtoUDP}), eq(ir.UDPDport, []byte{0, 9}))
	add(drop, eq(ir.IP4Saddr, a("10.1.0.33")), eq(ir.MetaL4Proto, []byte{ir.ProtoUDP}), eq(ir.UDPDport, []byte{0, 10}))
	l := compileAndLoad(t, c)
	var f *optimizer.Filter
	for si := range l.prog.Plan.Segments {
		for fi := range l.prog.Plan.Segments[si].Filters {
			if ff := &l.prog.Plan.Segments[si].Filters[fi]; ff.Dir16 && ff.Field == ir.IP4Snet {
				f = ff
			}
		}
	}
	if f == nil {
		t.Fatalf("no Dir16 source filter:\n%s", l.prog.Plan.Strategy())
	}
	b := f.Buckets()
	if b[optimizer.Dir16Index(a("10.1.0.0"))] != optimizer.Dir16Refine {
		t.Fatalf("bucket 10.1/16 is %#x, want refine", b[optimizer.Dir16Index(a("10.1.0.0"))])
	}
	if v := b[optimizer.Dir16Index(a("10.2.0.0"))]; v == 0 || v&optimizer.Dir16Refine != 0 {
		t.Fatalf("bucket 10.2/16 is %#x, want a direct bitmap", v)
	}
	if v := b[optimizer.Dir16Index(a("198.18.0.0"))]; v != 0 {
		t.Fatalf("bucket 198.18/16 is %#x, want 0", v)
	}
	for _, src := range []string{"10.1.0.3", "10.1.0.20", "10.1.0.30", "10.1.0.31", "10.1.0.32", "10.1.0.33", "10.1.0.21", "10.1.5.9", "10.1.7.200", "10.1.9.1", "10.1.200.1",
		"10.2.0.9", "10.2.0.10", "10.2.17.1", "10.2.32.1", "10.3.0.1", "198.18.0.1", "11.1.0.3"} {
		for _, proto := range []uint8{ir.ProtoUDP, ir.ProtoTCP} {
			for _, dst := range []string{"198.18.1.1", "198.18.1.2"} {
				pr := rulegen.Probe{Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), Proto: proto, Sport: 9, Dport: 9}
				p := testPacket{frame: pr.Packet(true).Data, ifindex: loIfindex}
				checkPacketCounters(t, l, c, p, func() string { return fmt.Sprintf("%s→%s proto %d", src, dst, proto) })
			}
		}
	}
}
