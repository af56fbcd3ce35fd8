package optimizer

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/bpfilter-go/bpfilter/optimizer/rulegen"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/optimizer")

// goldenHostChain is a host firewall in the style of the real iptables-save
// dumps: loopback, anti-spoofing prefixes per interface, ICMP types,
// services, a port range, a logged drop, a CONTINUE counter rule.
func goldenHostChain() *ir.Chain {
	v := func(k ir.VerdictKind) ir.Verdict { return ir.Verdict{Kind: k} }
	ifc := func(i uint32) ir.Match { return ir.Match{Field: ir.MetaIface, Value: be32(i)} }
	snet := func(a []byte, l int) ir.Match {
		return ir.Match{Field: ir.IP4Snet, Value: and(a, ir.PrefixMask(l, 4)), Mask: ir.PrefixMask(l, 4)}
	}
	tcp := ir.Match{Field: ir.MetaL4Proto, Value: []byte{ir.ProtoTCP}}
	udp := ir.Match{Field: ir.MetaL4Proto, Value: []byte{ir.ProtoUDP}}
	icmp := ir.Match{Field: ir.MetaL4Proto, Value: []byte{ir.ProtoICMP}}
	dport := func(f ir.Field, p uint16) ir.Match { return ir.Match{Field: f, Value: be16(p)} }
	r := func(v ir.Verdict, ms ...ir.Match) *ir.Rule { return &ir.Rule{Matches: ms, Verdict: v, Counter: true} }
	return &ir.Chain{Name: "INPUT", Hook: ir.HookNFLocalIn, Policy: v(ir.Drop), Rules: []*ir.Rule{
		r(v(ir.Accept), ifc(1)),
		r(v(ir.Drop), snet([]byte{0, 0, 0, 0}, 8), ifc(2)),
		r(v(ir.Drop), snet([]byte{10, 0, 0, 0}, 8), ifc(2)),
		r(v(ir.Drop), snet([]byte{127, 0, 0, 0}, 8), ifc(2)),
		r(v(ir.Drop), snet([]byte{169, 254, 0, 0}, 16), ifc(2)),
		r(v(ir.Drop), snet([]byte{172, 16, 0, 0}, 12), ifc(2)),
		r(v(ir.Accept), snet([]byte{160, 86, 0, 0}, 16), ifc(3)),
		r(v(ir.Drop), ifc(3)),
		r(v(ir.Accept), ifc(2), icmp, ir.Match{Field: ir.ICMPType, Value: []byte{3}}),
		r(v(ir.Accept), ifc(2), icmp, ir.Match{Field: ir.ICMPType, Value: []byte{8}}),
		{Matches: []ir.Match{tcp}, Verdict: v(ir.Continue), Counter: true},
		r(v(ir.Drop), tcp, dport(ir.TCPDport, 111)),
		r(v(ir.Accept), ifc(2), tcp, dport(ir.TCPDport, 22)),
		r(v(ir.Accept), ifc(2), tcp, dport(ir.TCPDport, 80)),
		r(v(ir.Accept), ifc(2), tcp, dport(ir.TCPDport, 443)),
		r(v(ir.Accept), ifc(2), udp, dport(ir.UDPDport, 53)),
		r(v(ir.Drop), ifc(2), tcp, ir.Match{Field: ir.TCPDport, Op: ir.OpRange, Value: be16(137), High: be16(139)}),
		r(v(ir.Drop), ifc(2), udp, ir.Match{Field: ir.UDPDport, Op: ir.OpRange, Value: be16(137), High: be16(139)}),
		{Matches: []ir.Match{tcp}, Log: &ir.Log{Headers: ir.LogAll, Prefix: "drop "}, Verdict: v(ir.Drop)},
		r(v(ir.Drop)),
	}}
}

func TestGoldenPlans(t *testing.T) {
	mix, err := rulegen.Generate(rulegen.Config{Kind: rulegen.Mix, Rules: 300, Seed: 11, Place: rulegen.Middle})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		c    *ir.Chain
		max  int
	}{
		{"host", goldenHostChain(), -1},
		{"mix300", mix, 6},
	} {
		p := build(t, tc.c, Options{})
		var b bytes.Buffer
		if err := p.Describe(&b, tc.max); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("..", "testdata", "optimizer", tc.name+".golden")
		if *update {
			if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./optimizer -run Golden -update)", err)
		}
		if !bytes.Equal(b.Bytes(), want) {
			t.Errorf("%s: plan differs from %s (run with -update if intended):\n%s", tc.name, path, b.String())
		}
	}
}
