package backend

import (
	"testing"

	"github.com/bpfilter-go/bpfilter/ir"
)

// testSets returns sets covering hash keys (single and concatenated, at
// unaligned offsets), LPM keys of both families and an empty set.
func testSets(tb testing.TB) []*ir.Set {
	tb.Helper()
	v := func(f ir.Field, s string) []byte { b, _ := mustParse(tb, f, s); return b }
	cat := func(parts ...[]byte) []byte {
		var out []byte
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	return []*ir.Set{
		{Name: "saddrs", Key: []ir.Field{ir.IP4Saddr}, Elems: []ir.SetElem{{Key: v(ir.IP4Saddr, "198.18.0.1")}, {Key: v(ir.IP4Saddr, "198.18.0.3")}}},
		{Name: "nets4", Key: []ir.Field{ir.IP4Snet}, Elems: []ir.SetElem{{Key: v(ir.IP4Saddr, "198.18.0.0"), PrefixLen: 30}, {Key: v(ir.IP4Saddr, "198.19.0.0"), PrefixLen: 16}}},
		{Name: "nets6", Key: []ir.Field{ir.IP6Dnet}, Elems: []ir.SetElem{{Key: v(ir.IP6Daddr, "2001:db8:0:1::"), PrefixLen: 64}, {Key: v(ir.IP6Daddr, "2001:db8::2"), PrefixLen: 128}}},
		{Name: "dport_saddr", Key: []ir.Field{ir.TCPDport, ir.IP4Saddr}, Elems: []ir.SetElem{{Key: cat(v(ir.TCPDport, "80"), v(ir.IP4Saddr, "198.18.0.1"))}}},
		{Name: "proto_dscp", Key: []ir.Field{ir.MetaL4Proto, ir.IP4DSCP}, Elems: []ir.SetElem{{Key: []byte{17, 10}}, {Key: []byte{6, 46}}}},
		{Name: "empty", Key: []ir.Field{ir.IP4Daddr}},
		{Name: "saddr6_sport", Key: []ir.Field{ir.IP6Saddr, ir.UDPSport}, Elems: []ir.SetElem{{Key: cat(v(ir.IP6Saddr, "2001:db8::7"), v(ir.UDPSport, "53"))}}},
		{Name: "l3_iface", Key: []ir.Field{ir.MetaL3Proto, ir.MetaIface}, Elems: []ir.SetElem{{Key: cat(v(ir.MetaL3Proto, "ipv6"), v(ir.MetaIface, "1"))}}},
		{Name: "mark", Key: []ir.Field{ir.MetaMark}, Elems: []ir.SetElem{{Key: v(ir.MetaMark, "0x10")}}},
		{Name: "icmp6", Key: []ir.Field{ir.ICMPv6Type, ir.ICMPv6Code}, Elems: []ir.SetElem{{Key: []byte{1, 4}}}},
	}
}

// addSetRules adds the test sets valid on the chain's hook and a CONTINUE
// rule "in" and "not in" each.
func addSetRules(tb testing.TB, c *ir.Chain) {
	tb.Helper()
next:
	for _, s := range testSets(tb) {
		for _, f := range s.Key {
			if !f.ValidOn(c.Hook) {
				continue next
			}
		}
		c.Sets = append(c.Sets, s)
		for _, neg := range []bool{false, true} {
			c.Rules = append(c.Rules, &ir.Rule{
				Matches: []ir.Match{{Op: ir.OpIn, Set: s.Name, Negate: neg}},
				Verdict: ir.Verdict{Kind: ir.Continue},
			})
		}
	}
}
