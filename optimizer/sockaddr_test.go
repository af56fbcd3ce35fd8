package optimizer

import (
	"math/rand"
	"reflect"
	"testing"

	"github.com/bpfilter-go/bpfilter/ir"
)

// TestPlanEvalSockAddr runs the property on cgroup sock_addr hooks, where
// fields come from the socket address rather than packet bytes.
func TestPlanEvalSockAddr(t *testing.T) {
	rng := rand.New(rand.NewSource(4))
	n := func(k int) int { return rng.Intn(k) }
	hooks := []ir.Hook{ir.HookCgroupSockAddrConnect4, ir.HookCgroupSockAddrSendmsg4, ir.HookCgroupSockAddrConnect6}
	lookups := 0
	for iter := 0; iter < 200; iter++ {
		h := hooks[n(len(hooks))]
		c := &ir.Chain{Name: "c", Hook: h, Policy: ir.Verdict{Kind: ir.Accept}}
		for len(c.Rules) < 30 {
			r := &ir.Rule{Verdict: ir.Verdict{Kind: []ir.VerdictKind{ir.Accept, ir.Drop, ir.Continue}[n(3)]}}
			for k := 1 + n(3); k > 0; k-- {
				var m ir.Match
				switch n(9) {
				case 0:
					m = ir.Match{Field: ir.IP4Daddr, Value: poolV4[n(len(poolV4))]}
				case 1:
					m = ir.Match{Field: ir.IP4Dnet, Value: and(poolV4[n(len(poolV4))], ir.PrefixMask(16, 4)), Mask: ir.PrefixMask(16, 4)}
				case 2:
					m = ir.Match{Field: ir.IP4Saddr, Value: poolV4[n(len(poolV4))]}
				case 3:
					m = ir.Match{Field: ir.MetaDport, Value: be16(poolPorts[n(len(poolPorts))])}
				case 4:
					m = ir.Match{Field: []ir.Field{ir.TCPDport, ir.UDPDport, ir.MetaDport}[n(3)], Op: ir.OpRange, Value: be16(50), High: be16(uint16(60 + n(1000)))}
				case 5:
					m = ir.Match{Field: []ir.Field{ir.MetaL4Proto, ir.IP4Proto}[n(2)], Value: []byte{[]byte{ir.ProtoTCP, ir.ProtoUDP}[n(2)]}}
				case 6:
					m = ir.Match{Field: ir.IP6Dnet, Value: and(poolV6[n(len(poolV6))], ir.PrefixMask(64, 16)), Mask: ir.PrefixMask(64, 16)}
				case 7:
					m = ir.Match{Field: ir.IP6Daddr, Value: poolV6[n(len(poolV6))]}
				default:
					m = ir.Match{Field: []ir.Field{ir.TCPDport, ir.UDPDport}[n(2)], Value: be16(poolPorts[n(len(poolPorts))])}
				}
				if m.Field.ValidOn(h) {
					r.Matches = append(r.Matches, m)
				}
			}
			c.Rules = append(c.Rules, r)
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("generated an invalid chain: %v", err)
		}
		p := build(t, c, Options{InlineMax: -1})
		for i := 0; i < 100; i++ {
			s := &ir.SockAddr{Family: 4, Proto: []uint8{ir.ProtoTCP, ir.ProtoUDP}[n(2)], DstPort: poolPorts[n(len(poolPorts))]}
			if h.SockAddrFamily() == 6 {
				s.Family, s.Dst = 6, poolV6[n(len(poolV6))]
			} else {
				s.Dst = poolV4[n(len(poolV4))]
				if h.IsSendmsg() {
					s.Src = poolV4[n(len(poolV4))]
				}
			}
			pk := &ir.Packet{Sock: s}
			want := ir.Eval(nil, c, pk)
			if got := p.Eval(pk); !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: plan %+v, ir %+v\n%s%s", h, got, want, p.Strategy(), dumpChain(c))
			}
			if want.Rule >= 0 && p.Rules[want.Rule].Classified {
				lookups++
			}
		}
	}
	if lookups < 100 {
		t.Fatalf("only %d decisions by lookups", lookups)
	}
}
