package backend

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/bpfilter-go/bpfilter/internal/testenv"
	"github.com/bpfilter-go/bpfilter/internal/testpkt"
	"github.com/bpfilter-go/bpfilter/ir"
)

// xtl4Rules is an iptables-like chain: each xt match starts with its
// xt.l4 construct (as the translator emits it), next to port rules the
// optimiser turns into lookups. first, when set, is put before them.
func xtl4Rules(first *ir.Rule) []*ir.Rule {
	l4p := func(p uint8) ir.Match { return ir.Match{Field: ir.MetaL4Proto, Op: ir.OpEq, Value: []byte{p}} }
	p4 := func(p uint8) ir.Match { return ir.Match{Field: ir.IP4Proto, Op: ir.OpEq, Value: []byte{p}} }
	port := func(f ir.Field, p uint16) ir.Match {
		return ir.Match{Field: f, Op: ir.OpEq, Value: []byte{byte(p >> 8), byte(p)}}
	}
	xt := ir.XTL4Match
	acc, drop, cont := ir.Verdict{Kind: ir.Accept}, ir.Verdict{Kind: ir.Drop}, ir.Verdict{Kind: ir.Continue}
	var rs []*ir.Rule
	if first != nil {
		rs = append(rs, first)
	}
	rs = append(rs,
		&ir.Rule{Counter: true, Verdict: cont},
		// Earlier criterion false for every test packet: never reached.
		&ir.Rule{Matches: []ir.Match{{Field: ir.MetaMark, Op: ir.OpEq, Value: []byte{0, 0, 0, 9}}, l4p(ir.ProtoTCP), xt(ir.XTL4TCP)}, Counter: true, Verdict: drop},
		&ir.Rule{Matches: []ir.Match{l4p(ir.ProtoTCP), xt(ir.XTL4Multiport), port(ir.TCPDport, 22)}, Counter: true, Verdict: acc},
	)
	for i := 0; i < 8; i++ {
		rs = append(rs, &ir.Rule{Matches: []ir.Match{p4(ir.ProtoTCP), xt(ir.XTL4TCP), port(ir.TCPDport, uint16(1000+i))}, Counter: true, Verdict: acc})
	}
	rs = append(rs,
		&ir.Rule{Matches: []ir.Match{l4p(ir.ProtoUDP), xt(ir.XTL4Multiport), port(ir.UDPSport, 7)}, Counter: true, Verdict: acc},
		&ir.Rule{Matches: []ir.Match{l4p(ir.ProtoUDP), xt(ir.XTL4UDP), port(ir.UDPDport, 53)}, Counter: true, Verdict: acc},
		&ir.Rule{Matches: []ir.Match{l4p(ir.ProtoUDP), xt(ir.XTL4UDP)}, Counter: true, Verdict: cont},
		&ir.Rule{Matches: []ir.Match{p4(ir.ProtoICMP), xt(ir.XTL4ICMP), {Field: ir.ICMPType, Op: ir.OpEq, Value: []byte{8}}}, Counter: true, Verdict: acc},
		&ir.Rule{Matches: []ir.Match{l4p(ir.ProtoICMPv6), xt(ir.XTL4ICMP6)}, Counter: true, Verdict: acc},
		&ir.Rule{Matches: []ir.Match{l4p(ir.ProtoTCP), xt(ir.XTL4TCP), {Field: ir.TCPOption, Op: ir.OpEq, Value: []byte{2}}}, Counter: true, Verdict: acc},
		&ir.Rule{Matches: []ir.Match{l4p(ir.ProtoTCP), xt(ir.XTL4TCP)}, Counter: true, Verdict: drop},
	)
	return rs
}

// xtl4Frames are the probes of docs/HOTDROP.md: truncated TCP, UDP, ICMP
// and ICMPv6 headers, IPv4 fragments at offsets 1 and 2, multiport on a
// 4-byte TCP header, and well-formed packets.
func xtl4Frames() map[string][]byte {
	v4 := func(p uint8, off uint16, l4 []byte) []byte {
		return ip4(testpkt.IPv4{Src: a4("198.18.0.1"), Dst: a4("198.18.0.2"), Proto: p, TTL: 64, FragOffset: off}, l4)
	}
	v6 := func(p uint8, l4 []byte) []byte {
		return ip6(testpkt.IPv6{Src: a4("fd00:198:18::1"), Dst: a4("fd00:198:18::2"), NextHdr: p, HopLimit: 64}, l4)
	}
	tcp := func(dport uint16) []byte { return testpkt.TCP{Sport: 4000, Dport: dport, Flags: testpkt.SYN}.Encode() }
	udp := func(sport, dport uint16) []byte { return testpkt.UDP{Sport: sport, Dport: dport}.Encode(1, 2, 3, 4) }
	icmp := []byte{8, 0, 0, 0, 0, 1, 0, 1, 0xaa}
	icmp6 := []byte{128, 0, 0, 0, 0, 1, 0, 1, 0xaa}
	return map[string][]byte{
		"tcp 22": v4(ir.ProtoTCP, 0, tcp(22)), "tcp 1003": v4(ir.ProtoTCP, 0, tcp(1003)), "tcp 443": v4(ir.ProtoTCP, 0, tcp(443)),
		"tcp 10 bytes port 22": v4(ir.ProtoTCP, 0, tcp(22)[:10]), "tcp 10 bytes port 1003": v4(ir.ProtoTCP, 0, tcp(1003)[:10]),
		"tcp 19 bytes": v4(ir.ProtoTCP, 0, tcp(1003)[:19]), "tcp 4 bytes port 22": v4(ir.ProtoTCP, 0, tcp(22)[:4]),
		"tcp 3 bytes":   v4(ir.ProtoTCP, 0, tcp(22)[:3]),
		"tcp fragoff 1": v4(ir.ProtoTCP, 1, tcp(22)), "tcp fragoff 2": v4(ir.ProtoTCP, 2, tcp(22)),
		"udp 53": v4(ir.ProtoUDP, 0, udp(9, 53)), "udp 4 bytes": v4(ir.ProtoUDP, 0, udp(9, 53)[:4]),
		"udp 4 bytes sport 7": v4(ir.ProtoUDP, 0, udp(7, 53)[:4]), "udp fragoff 1": v4(ir.ProtoUDP, 1, udp(9, 53)),
		"icmp 5 bytes": v4(ir.ProtoICMP, 0, icmp[:5]), "icmp 7 bytes": v4(ir.ProtoICMP, 0, icmp[:7]),
		"icmp 8 bytes": v4(ir.ProtoICMP, 0, icmp[:8]),
		"ip6 tcp 1003": v6(ir.ProtoTCP, tcp(1003)), "ip6 tcp 19 bytes": v6(ir.ProtoTCP, tcp(1003)[:19]),
		"ip6 tcp 10 bytes port 22": v6(ir.ProtoTCP, tcp(22)[:10]),
		"ip6 udp 4 bytes":          v6(ir.ProtoUDP, udp(9, 53)[:4]), "ip6 udp 8 bytes": v6(ir.ProtoUDP, udp(9, 53)[:8]),
		"ip6 icmp6 7 bytes": v6(ir.ProtoICMPv6, icmp6[:7]), "ip6 icmp6 8 bytes": v6(ir.ProtoICMPv6, icmp6[:8]),
	}
}

// TestXTL4HotDrop runs the probes through netfilter programs (local-in,
// forward, local-out) with BPF_PROG_TEST_RUN and compares verdicts and
// every counter with ir.Eval, on a chain whose rules reach the
// constructs and on one whose first rule decides before them.
func TestXTL4HotDrop(t *testing.T) {
	frames := xtl4Frames()
	names := make([]string, 0, len(frames))
	for n := range frames {
		names = append(names, n)
	}
	sort.Strings(names)
	// An earlier terminal rule: IPv4 from 198.18.0.1 never reaches a
	// construct.
	terminal := &ir.Rule{Matches: []ir.Match{{Field: ir.IP4Saddr, Op: ir.OpEq, Value: []byte{198, 18, 0, 1}}}, Counter: true, Verdict: ir.Verdict{Kind: ir.Accept}}
	hot := map[string]bool{}
	for _, variant := range []struct {
		name  string
		first *ir.Rule
	}{{"reached", nil}, {"terminal first", terminal}} {
		for _, h := range []ir.Hook{ir.HookNFLocalIn, ir.HookNFForward, ir.HookNFLocalOut} {
			c := &ir.Chain{Name: "xtl4", Hook: h, Policy: ir.Verdict{Kind: ir.Accept}, Rules: xtl4Rules(variant.first)}
			l := compileAndLoad(t, c)
			if _, ok := l.prog.Spec.Maps[ActionsMap]; !ok {
				t.Fatalf("%s: the port rules were not turned into lookups", h)
			}
			if _, ok := l.prog.Spec.Programs[chunkProgName(1)]; !ok {
				t.Fatalf("%s: no slow body program", h)
			}
			for _, name := range names {
				tp := testPacket{frame: frames[name]}
				res := ir.Eval(nil, c, evalPacket(h, tp))
				if res.HotDrop {
					hot[variant.name+": "+name] = true
				}
				checkPacketCounters(t, l, c, tp, func() string { return fmt.Sprintf("%s %s: %s", variant.name, h, name) })
			}
		}
	}
	// The probes must exercise the hotdrop, for the rows of the table.
	for _, want := range []string{"reached: tcp 10 bytes port 1003", "reached: tcp 19 bytes", "reached: tcp fragoff 1",
		"reached: udp 4 bytes", "reached: icmp 5 bytes", "reached: icmp 7 bytes", "reached: ip6 tcp 19 bytes",
		"reached: ip6 udp 4 bytes", "reached: ip6 icmp6 7 bytes", "terminal first: ip6 udp 4 bytes"} {
		if !hot[want] {
			t.Errorf("%s: ir.Eval does not hotdrop", want)
		}
	}
	for _, notHot := range []string{"reached: tcp 10 bytes port 22", "reached: tcp fragoff 2", "reached: icmp 8 bytes",
		"reached: udp 4 bytes sport 7", "terminal first: tcp 19 bytes", "terminal first: tcp fragoff 1"} {
		if hot[notHot] {
			t.Errorf("%s: ir.Eval hotdrops", notHot)
		}
	}
}

// TestXTL4UserChain: constructs in an inlined user chain hotdrop in the
// slow body, and hold as their fast form otherwise.
func TestXTL4UserChain(t *testing.T) {
	rules := xtl4Rules(nil)
	u := &ir.Chain{Name: "u", User: true, Hook: ir.HookNFForward, Rules: rules[1:]}
	c := &ir.Chain{Name: "m", Hook: ir.HookNFForward, Policy: ir.Verdict{Kind: ir.Drop}, Rules: []*ir.Rule{
		{Counter: true, Verdict: ir.Verdict{Kind: ir.Jump, Chain: "u"}},
		{Matches: []ir.Match{{Field: ir.MetaL4Proto, Op: ir.OpEq, Value: []byte{ir.ProtoUDP}}}, Counter: true, Verdict: ir.Verdict{Kind: ir.Accept}},
	}}
	rs := &ir.Ruleset{Chains: []*ir.Chain{c, u}}
	if err := rs.Validate(); err != nil {
		t.Fatal(err)
	}
	l := compileAndLoadInRuleset(t, rs, c)
	hot := 0
	for name, fr := range xtl4Frames() {
		tp := testPacket{frame: fr}
		want := ir.Eval(rs, c, evalPacket(c.Hook, tp))
		if want.HotDrop {
			hot++
		}
		if got := l.run(t, tp); got != expectedRet(c.Hook, want.Verdict) {
			t.Errorf("%s: program returned %d, ir.Eval says %s (chain %s rule %d)", name, int32(got), want.Verdict, want.Chain, want.Rule)
		}
	}
	if hot == 0 {
		t.Fatal("no probe hotdrops in the user chain")
	}
}

// TestXTL4FastPathUnchanged: a typical `-p tcp -m tcp --dport N` chain
// keeps the strategy it had without constructs, and its fast program is
// the same code apart from the prologue's dispatch to the slow body.
func TestXTL4FastPathUnchanged(t *testing.T) {
	var with, without []*ir.Rule
	for i := 0; i < 32; i++ {
		p := ir.Match{Field: ir.IP4Proto, Op: ir.OpEq, Value: []byte{ir.ProtoTCP}}
		d := ir.Match{Field: ir.TCPDport, Op: ir.OpEq, Value: []byte{0, byte(i + 1)}}
		with = append(with, &ir.Rule{Matches: []ir.Match{p, ir.XTL4Match(ir.XTL4TCP), d}, Counter: true, Verdict: ir.Verdict{Kind: ir.Accept}})
		without = append(without, &ir.Rule{Matches: []ir.Match{p, d}, Counter: true, Verdict: ir.Verdict{Kind: ir.Accept}})
	}
	cw := &ir.Chain{Name: "c", Hook: ir.HookNFLocalIn, Policy: ir.Verdict{Kind: ir.Drop}, Rules: with}
	co := &ir.Chain{Name: "c", Hook: ir.HookNFLocalIn, Policy: ir.Verdict{Kind: ir.Drop}, Rules: without}
	pw, err := Compile(cw, Options{})
	if err != nil {
		t.Fatal(err)
	}
	po, err := Compile(co, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if pw.Plan.Strategy() != po.Plan.Strategy() {
		t.Fatalf("strategy changed:\nwith:\n%s\nwithout:\n%s", pw.Plan.Strategy(), po.Plan.Strategy())
	}
	if pw.Plan.Stats.ClassifiedRules != 32 || !pw.Plan.HasSlowPath() || po.Plan.HasSlowPath() {
		t.Fatalf("classified %d, slow path %v/%v", pw.Plan.Stats.ClassifiedRules, pw.Plan.HasSlowPath(), po.Plan.HasSlowPath())
	}
	fw := pw.Spec.Programs[ProgramName].Instructions
	fo := po.Spec.Programs[ProgramName].Instructions
	// The fast program differs by the parser's mark and the dispatch.
	if d := len(fw) - len(fo); d <= 0 || d > 80 {
		t.Fatalf("fast program has %d instructions, %d without constructs", len(fw), len(fo))
	}
	t.Logf("fast program: %d instructions (%d without constructs); slow body: %d", len(fw), len(fo),
		len(pw.Spec.Programs[chunkProgName(1)].Instructions))
	if !strings.Contains(fmt.Sprint(fw), "FnTailCall") {
		t.Fatal("fast program has no tail call to the slow body")
	}
}

// compileAndLoadInRuleset is compileAndLoad for a base chain of rs.
func compileAndLoadInRuleset(tb testing.TB, rs *ir.Ruleset, c *ir.Chain) *loaded {
	tb.Helper()
	testenv.RequireBPF(tb)
	p, err := CompileInRuleset(rs, c, Options{})
	if err != nil {
		tb.Fatalf("CompileInRuleset: %v", err)
	}
	return loadCompiled(tb, c, p)
}
