package backend

import (
	"testing"

	"github.com/bpfilter-go/bpfilter/internal/testpkt"
	"github.com/bpfilter-go/bpfilter/ir"
)

func mustParse(tb testing.TB, f ir.Field, s string) ([]byte, []byte) {
	tb.Helper()
	v, m, err := f.Info().Kind.Parse(s, ir.ParseEnv{})
	if err != nil {
		tb.Fatalf("parse %s %q: %v", f, s, err)
	}
	return v, m
}

func eqMatch(tb testing.TB, f ir.Field, s string, neg bool) ir.Match {
	v, m := mustParse(tb, f, s)
	return ir.Match{Field: f, Op: ir.OpEq, Value: v, Mask: m, Negate: neg}
}

func tcp4(src, dst string, sport, dport uint16, flags uint8) []byte {
	return testpkt.Ethernet(testpkt.EthIPv4, testpkt.IPv4{Src: testpkt.Addr(src), Dst: testpkt.Addr(dst), Proto: testpkt.ProtoTCP}.
		Encode(testpkt.TCP{Sport: sport, Dport: dport, Flags: flags}.Encode()))
}

func TestSmokeEveryHook(t *testing.T) {
	for _, h := range ir.Hooks() {
		if h.IsSockAddr() {
			continue
		}
		t.Run(h.String(), func(t *testing.T) {
			c := &ir.Chain{Name: "smoke", Hook: h, Policy: ir.Verdict{Kind: ir.Accept}, Rules: []*ir.Rule{
				{Matches: []ir.Match{eqMatch(t, ir.IP4Saddr, "198.18.0.1", false)}, Verdict: ir.Verdict{Kind: ir.Drop}},
			}}
			l := compileAndLoad(t, c)
			l.check(t, testPacket{frame: tcp4("198.18.0.1", "198.18.0.2", 1, 2, 0)})
			l.check(t, testPacket{frame: tcp4("198.18.0.3", "198.18.0.2", 1, 2, 0)})
		})
	}
}
