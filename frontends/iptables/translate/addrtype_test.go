package translate

import (
	"errors"
	"strings"
	"testing"

	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
	"github.com/bpfilter-go/bpfilter/frontends/iptables/xt"
	"github.com/bpfilter-go/bpfilter/internal/testpkt"
	"github.com/bpfilter-go/bpfilter/ir"
)

func TestAddrtype(t *testing.T) {
	tb := restoreFilter(t, abi.IPv4, `*filter
-A INPUT -m addrtype --dst-type LOCAL --limit-iface-in -j ACCEPT
-A INPUT -m addrtype ! --src-type UNICAST,BROADCAST -j DROP
-A FORWARD -m addrtype --dst-type MULTICAST --limit-iface-out -j DROP
-A OUTPUT -m addrtype --src-type LOCAL --dst-type LOCAL -j ACCEPT
COMMIT
`)
	rs, err := Table(tb, opts())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]ir.Match{
		"iptables.INPUT": {
			{Field: ir.AddrDTypeIif, Op: ir.OpAny, Value: []byte{0, 1 << ir.RTNLocal}},
			{Field: ir.AddrSType, Op: ir.OpAny, Negate: true, Value: []byte{0, 1<<ir.RTNUnicast | 1<<ir.RTNBroadcast}},
		},
		"iptables.FORWARD": {{Field: ir.AddrDTypeOif, Op: ir.OpAny, Value: []byte{0, 1 << ir.RTNMulticast}}},
		"iptables.OUTPUT": {
			{Field: ir.AddrSType, Op: ir.OpAny, Value: []byte{0, 1 << ir.RTNLocal}},
			{Field: ir.AddrDType, Op: ir.OpAny, Value: []byte{0, 1 << ir.RTNLocal}},
		},
	}
	for name, ms := range want {
		c := rs.Chain(name)
		var got []ir.Match
		for _, r := range c.Rules[1:] {
			got = append(got, r.Matches...)
		}
		if len(got) != len(ms) {
			t.Fatalf("%s: matches %v, want %v", name, got, ms)
		}
		for i := range ms {
			if got[i].String() != ms[i].String() {
				t.Errorf("%s: match %d is %s, want %s", name, i, got[i], ms[i])
			}
		}
	}
	// Verdicts with a table: 198.18.0.1 is local on device 2.
	tab := &ir.LocalRoutes{Routes: []ir.LocalRoute{{Addr: [4]byte{198, 18, 0, 1}, Len: 32, Type: ir.RTNLocal, Ifindex: 2}}}
	in := rs.Chain("iptables.INPUT")
	for _, c := range []struct {
		src, dst string
		dev      uint32
		want     ir.VerdictKind
	}{
		{"198.18.0.9", "198.18.0.1", 2, ir.Accept},
		{"198.18.0.9", "198.18.0.1", 3, ir.Accept}, // policy ACCEPT, rule 2 does not hold
		{"198.18.0.1", "198.18.0.1", 3, ir.Drop},   // LOCAL source on another device
		{"198.18.0.1", "198.18.0.7", 3, ir.Drop},
	} {
		p := v4(c.src, c.dst, testpkt.ProtoUDP, testpkt.UDP{Sport: 1, Dport: 2}.Encode())
		p.InIfindex, p.LocalRoutes = c.dev, tab
		if got := ir.Eval(rs, in, p).Verdict.Kind; got != c.want {
			t.Errorf("%s -> %s in %d: %v, want %v", c.src, c.dst, c.dev, got, c.want)
		}
	}
}

func TestAddrtype6(t *testing.T) {
	tb := restoreFilter(t, abi.IPv6, "*filter\n-A INPUT -m addrtype --dst-type MULTICAST --limit-iface-in -j DROP\n-A INPUT -m addrtype ! --src-type UNICAST -j DROP\nCOMMIT\n")
	rs, err := Table(tb, opts())
	if err != nil {
		t.Fatal(err)
	}
	in := rs.Chain("ip6tables.INPUT")
	if in == nil || len(in.Rules) != 3 {
		t.Fatalf("INPUT: %+v", in)
	}
	if m := in.Rules[1].Matches[0]; m.Field != ir.AddrDType || m.Op != ir.OpAll {
		t.Errorf("IPv6 MULTICAST: %s", m)
	}
	// Route lookup types: OpAll with one lookup bit (and the classes),
	// OpAny with lookup bits alone, the interface limit kept.
	const (
		loc = 1 << ir.RTNLocal
		any = 1 << ir.RTNAnycast
		unr = 1 << ir.RTNUnreachable
		uni = 1 << ir.RTNUnicast
	)
	for _, c := range []struct {
		rule string
		want ir.Match
	}{
		{"-A INPUT -m addrtype --dst-type LOCAL -j ACCEPT", ir.Match{Field: ir.AddrDType, Op: ir.OpAll, Value: []byte{0, loc}}},
		{"-A INPUT -m addrtype ! --dst-type LOCAL --limit-iface-in -j ACCEPT", ir.Match{Field: ir.AddrDTypeIif, Op: ir.OpAll, Negate: true, Value: []byte{0, loc}}},
		{"-A INPUT -m addrtype --src-type UNREACHABLE -j ACCEPT", ir.Match{Field: ir.AddrSType, Op: ir.OpAll, Value: []byte{0, unr}}},
		{"-A INPUT -m addrtype --src-type ANYCAST,UNICAST -j ACCEPT", ir.Match{Field: ir.AddrSType, Op: ir.OpAll, Value: []byte{0, any | uni}}},
		{"-A OUTPUT -m addrtype --dst-type LOCAL,ANYCAST --limit-iface-out -j ACCEPT", ir.Match{Field: ir.AddrDTypeOif, Op: ir.OpAny, Value: []byte{0, loc | any}}},
		{"-A INPUT -m addrtype --dst-type UNICAST --limit-iface-in -j ACCEPT", ir.Match{Field: ir.AddrDType, Op: ir.OpAll, Value: []byte{0, uni}}},
	} {
		tb := restoreFilter(t, abi.IPv6, "*filter\n"+c.rule+"\nCOMMIT\n")
		rs, err := Table(tb, opts())
		if err != nil {
			t.Errorf("%s: %v", c.rule, err)
			continue
		}
		name := "ip6tables." + strings.Fields(c.rule)[1]
		if ch := rs.Chain(name); ch == nil || len(ch.Rules) != 2 || len(ch.Rules[1].Matches) != 1 || ch.Rules[1].Matches[0].String() != c.want.String() {
			t.Errorf("%s: %+v, want %s", c.rule, ch, c.want)
		}
	}
	// Classes with several lookup types: refused.
	rule := "-A INPUT -m addrtype --src-type ANYCAST,UNICAST,LOCAL -j ACCEPT"
	tb = restoreFilter(t, abi.IPv6, "*filter\n"+rule+"\nCOMMIT\n")
	_, err = Table(tb, opts())
	var te *Error
	if !errors.As(err, &te) || !strings.Contains(te.Feature, "ip6tables addrtype") || te.Rule != 1 || !strings.Contains(te.Text, "-m addrtype") {
		t.Errorf("%s: %v, want a refusal", rule, err)
	}
}

// TestAddrtypeKernelChecks: rules iptables would not let through (raw ABI
// input) are refused as xt_addrtype's checkentry refuses them.
func TestAddrtypeKernelChecks(t *testing.T) {
	for _, c := range []struct {
		fam   abi.Family
		chain string
		info  xt.Info
		want  string
	}{
		{abi.IPv4, "OUTPUT", &xt.Addrtype{Dest: 4, Flags: xt.AddrtypeLimitIfaceIn}, "input interface limitation"},
		{abi.IPv4, "INPUT", &xt.Addrtype{Dest: 4, Flags: xt.AddrtypeLimitIfaceOut}, "output interface limitation"},
		{abi.IPv4, "FORWARD", &xt.Addrtype{Dest: 4, Flags: xt.AddrtypeLimitIfaceOut | xt.AddrtypeLimitIfaceIn}, "together"},
		{abi.IPv6, "FORWARD", &xt.Addrtype{Dest: 1 << ir.RTNBroadcast}, "BROADCAST"},
		{abi.IPv6, "FORWARD", &xt.Addrtype{Source: 1 << ir.RTNNAT}, "NAT"},
		{abi.IPv6, "FORWARD", &xt.AddrtypeV0{Source: 2}, "IPv4 only"},
	} {
		tb := restoreFilter(t, c.fam, "*filter\nCOMMIT\n")
		var ch *abi.Chain
		for _, x := range tb.Chains {
			if x.Name == c.chain {
				ch = x
			}
		}
		rev := uint8(1)
		if _, ok := c.info.(*xt.AddrtypeV0); ok {
			rev = 0
		}
		ch.Rules = append(ch.Rules, &abi.Rule{Matches: []abi.Match{abi.NewMatch("addrtype", rev, c.info)}, Target: abi.Target{Kind: abi.TargetVerdict, Verdict: abi.VerdictAccept}})
		_, err := Table(tb, opts())
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %s %+v: %v, want a refusal mentioning %q", c.fam, c.chain, c.info, err, c.want)
		}
	}
}
