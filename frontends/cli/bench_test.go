package cli

import (
	"fmt"
	"strings"
	"testing"
)

// bigRuleset returns a chain with n rules (every tenth with an anonymous
// set) and a named set of n elements.
func bigRuleset(n int) []byte {
	var b strings.Builder
	b.WriteString("chain big BF_HOOK_XDP ACCEPT\n    set blocked (ip4.saddr) in {\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "        10.%d.%d.%d\n", i>>16&255, i>>8&255, i&255)
	}
	b.WriteString("    }\n    rule (ip4.saddr) in blocked DROP\n")
	for i := 0; i < n; i++ {
		if i%10 == 0 {
			fmt.Fprintf(&b, "    rule (ip4.daddr, tcp.dport) in { 198.18.%d.%d, %d; 198.19.0.1, 80 } counter DROP\n", i>>8&255, i&255, i%65536)
			continue
		}
		fmt.Fprintf(&b, "    rule ip4.saddr eq 198.18.%d.%d tcp.dport range 1-%d counter ACCEPT\n", i>>8&255, i&255, 1+i%60000)
	}
	return []byte(b.String())
}

func BenchmarkParse10k(b *testing.B) {
	src := bigRuleset(10000)
	b.SetBytes(int64(len(src)))
	for i := 0; i < b.N; i++ {
		rs, err := Parse("big.bf", src, testEnv)
		if err != nil {
			b.Fatal(err)
		}
		if got := len(rs.Chains[0].Rules); got != 10001 {
			b.Fatalf("got %d rules", got)
		}
	}
}

func BenchmarkFormat10k(b *testing.B) {
	rs, err := Parse("big.bf", bigRuleset(10000), testEnv)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		if out := Format(rs); len(out) == 0 {
			b.Fatal("empty output")
		}
	}
}

func TestParseLargeRuleset(t *testing.T) {
	if testing.Short() {
		t.Skip("large input skipped in -short mode")
	}
	rs, err := Parse("big.bf", bigRuleset(10000), testEnv)
	if err != nil {
		t.Fatal(err)
	}
	c := rs.Chains[0]
	if len(c.Rules) != 10001 || len(c.Sets) != 1001 || len(c.Sets[0].Elems) != 10000 {
		t.Fatalf("got %d rules, %d sets, %d elements", len(c.Rules), len(c.Sets), len(c.Sets[0].Elems))
	}
	checkRoundTrip(t, "big", rs)
}
