package backend

import (
	"testing"

	"github.com/bpfilter-go/bpfilter/internal/testpkt"
	"github.com/bpfilter-go/bpfilter/ir"
)

func ifnameMatch(t *testing.T, f ir.Field, name string, neg bool) ir.Match {
	t.Helper()
	v, m, err := ir.IfNameMatch(name)
	if err != nil {
		t.Fatal(err)
	}
	return ir.Match{Field: f, Op: ir.OpEq, Negate: neg, Value: v, Mask: m}
}

func ctMatch(op ir.Op, bits uint32, neg bool) ir.Match {
	return ir.Match{Field: ir.CtState, Op: op, Negate: neg, Value: ir.KindCtState.UintValue(uint64(bits))}
}

// TestNetfilterFieldsMatchEval compiles one rule per match on the
// netfilter hooks and compares the program's verdict with ir.Eval, for
// IPv4 and IPv6 packets.
func TestNetfilterFieldsMatchEval(t *testing.T) {
	var ms []ir.Match
	for _, f := range []ir.Field{ir.MetaIifName, ir.MetaOifName} {
		for _, name := range []string{"lo", "lo+", "l+", "+", "eth0", "lo0", "veth+", "abcdefghijklmno", "abcdefghijklmn+"} {
			for _, neg := range []bool{false, true} {
				ms = append(ms, ifnameMatch(t, f, name, neg))
			}
		}
	}
	// A value with bits outside the mask never matches.
	odd := ifnameMatch(t, ir.MetaOifName, "lo+", false)
	odd.Value[5] = 'x'
	ms = append(ms, odd)
	for _, bits := range []uint32{ir.CtStateInvalid, ir.CtStateNew, ir.CtStateEstablished | ir.CtStateRelated, ir.CtStateUntracked, ir.CtStateInvalid | ir.CtStateNew} {
		for _, neg := range []bool{false, true} {
			ms = append(ms, ctMatch(ir.OpAny, bits, neg), ctMatch(ir.OpEq, bits, neg))
		}
	}
	// Test runs carry no conntrack entry: the entry fields hold, also
	// when negated (TestCtEntryTraffic and the diff test in e2e/iptdiff
	// cover entries). Every field is compiled and verified here.
	for _, neg := range []bool{false, true} {
		ms = append(ms, ctEntryMatches(neg)...)
	}
	frames := [][]byte{tcp4("198.18.0.1", "198.18.0.2", 1234, 80, 0x02), tcp6("fd00:198:18::1", "fd00:198:18::2", 1234, 80, 0x10)}
	for _, h := range []ir.Hook{ir.HookNFPreRouting, ir.HookNFLocalIn, ir.HookNFForward, ir.HookNFLocalOut, ir.HookNFPostRouting} {
		var hits, misses int
		for _, m := range ms {
			c := &ir.Chain{Name: "nf_fields", Hook: h, Policy: ir.Verdict{Kind: ir.Accept}, Rules: []*ir.Rule{
				{Matches: []ir.Match{m}, Verdict: ir.Verdict{Kind: ir.Drop}},
			}}
			l := compileAndLoad(t, c)
			for _, fr := range frames {
				p := testPacket{frame: fr}
				ep := evalPacket(h, p)
				res := ir.Eval(nil, c, ep)
				if got, want := l.run(t, p), expectedRet(h, res.Verdict); got != want {
					t.Errorf("%s: %s: program returned %d, ir.Eval says %s", h, m, int32(got), res.Verdict)
				}
				if res.Rule == 0 {
					hits++
				} else {
					misses++
				}
			}
		}
		if hits == 0 || misses == 0 {
			t.Errorf("%s: %d hits and %d misses: the cases do not cover both outcomes", h, hits, misses)
		}
	}
}

func tcp6(src, dst string, sport, dport uint16, flags uint8) []byte {
	return testpkt.Ethernet(testpkt.EthIPv6, testpkt.IPv6{Src: testpkt.Addr(src), Dst: testpkt.Addr(dst), NextHdr: testpkt.ProtoTCP, HopLimit: 64}.
		Encode(testpkt.TCP{Sport: sport, Dport: dport, Flags: flags}.Encode()))
}
