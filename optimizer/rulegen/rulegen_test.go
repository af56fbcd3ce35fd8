package rulegen

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/bpfilter-go/bpfilter/ir"
)

func TestGenerateDeterministicAndPlaced(t *testing.T) {
	for _, kind := range []Kind{SourceAddrs, Mix} {
		for _, place := range []Placement{Nowhere, First, Middle, Last} {
			for _, hook := range []ir.Hook{ir.HookXDP, ir.HookNFLocalIn} {
				cfg := Config{Kind: kind, Rules: 501, Seed: 9, Place: place, Hook: hook}
				a, err := Generate(cfg)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := Generate(cfg)
				if !reflect.DeepEqual(a, b) {
					t.Fatalf("kind %d %s: not deterministic", kind, place)
				}
				if len(a.Rules) != 501 {
					t.Fatalf("%d rules, want 501", len(a.Rules))
				}
				l2 := hook == ir.HookXDP
				r := ir.Eval(nil, a, DefaultProbe().Packet(l2))
				if want := MatchIndex(501, place); r.Rule != want || len(r.Hits) != min(1, want+1) {
					t.Fatalf("kind %d %s hook %s: probe decided by %d (hits %v), want %d", kind, place, hook, r.Rule, r.Hits, want)
				}
			}
		}
	}
}

func TestGenerateMixHasRealisticShapes(t *testing.T) {
	c, err := Generate(Config{Kind: Mix, Rules: 2000, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	var ranges, prefixes, ifaces, hosts int
	for _, r := range c.Rules {
		for _, m := range r.Matches {
			switch {
			case m.Op == ir.OpRange:
				ranges++
			case m.Field == ir.IP4Snet || m.Field == ir.IP4Dnet:
				prefixes++
			case m.Field == ir.MetaIface:
				ifaces++
			case m.Field == ir.IP4Saddr:
				hosts++
			}
		}
	}
	if ranges < 50 || prefixes < 300 || ifaces < 500 || hosts < 500 {
		t.Fatalf("mix lacks realistic shapes: %d ranges, %d prefixes, %d iface matches, %d hosts", ranges, prefixes, ifaces, hosts)
	}
}

func TestGenerateRefusesBadConfig(t *testing.T) {
	if _, err := Generate(Config{Rules: -1}); err == nil {
		t.Fatal("negative rule count accepted")
	}
	if _, err := Generate(Config{Rules: 0, Place: First}); err == nil {
		t.Fatal("placing a rule in an empty chain accepted")
	}
}

func TestProbePacketIPv6(t *testing.T) {
	p := DefaultProbe()
	p.Src, p.Dst = mustAddr("fd00:198:18::1"), mustAddr("fd00:198:18::2")
	c := &ir.Chain{Name: "c", Hook: ir.HookTCIngress, Policy: ir.Verdict{Kind: ir.Accept},
		Rules: []*ir.Rule{p.Rule(ir.Verdict{Kind: ir.Drop})}}
	if r := ir.Eval(nil, c, p.Packet(true)); r.Rule != 0 {
		t.Fatalf("IPv6 probe rule does not match its packet: %+v", r)
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
