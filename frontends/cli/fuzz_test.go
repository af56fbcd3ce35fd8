package cli

import (
	"reflect"
	"testing"
)

// fuzzSeeds are hand-written inputs that reach every part of the grammar.
var fuzzSeeds = []string{
	"",
	"# only a comment\n",
	"chain c BF_HOOK_XDP ACCEPT",
	"chain c BF_HOOK_TC_INGRESS{ifindex=1} NEXT rule tcp.flags any syn,ack counter mark 0x1 log link every 1.5s REDIRECT lo out",
	"chain c BF_HOOK_NF_LOCAL_IN{family=inet4,priorities=101-102} DROP\n set s (ip4.saddr, tcp.dport) in {\n 1.1.1.1, 80;\n 2.2.2.2, 443 }\n rule (ip4.saddr, tcp.dport) not in s ACCEPT",
	"chain c BF_HOOK_XDP ACCEPT rule (ip6.snet) in { ::1/100; ::2/89 } DROP rule (ip4.saddr) in {} CONTINUE",
	"chain c BF_HOOK_CGROUP_SOCK_ADDR_CONNECT4{cgpath=/sys/fs/cgroup} ACCEPT rule meta.dport range 1-2 log DROP",
	"chain c BF_HOOK_XDP{ifindex=2,ifindex=3} ACCEPT",
	"chain c BF_HOOK_XDP ACCEPT rule ip4.sadr eq 1.1.1.1 DROP",
	"chain c BF_HOOK_XDP ACCEPT rule (ip4.saddr,",
	"chain c BF_HOOK_XDP ACCEPT set s (ip4.saddr) in { 1.1.1.1",
	"chain {",
	"chain c BF_HOOK_XDP{",
	"chain c BF_HOOK_XDP ACCEPT rule log every",
}

func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	for _, c := range loadCases(f) {
		f.Add(substitute(f, c))
	}
	f.Fuzz(func(t *testing.T, src string) {
		rs, err := Parse("fuzz.bf", []byte(src), testEnv)
		if err != nil {
			if rs != nil {
				t.Fatalf("Parse returned both a ruleset and an error")
			}
			if _, ok := err.(ErrorList); !ok {
				t.Fatalf("Parse error is %T, want ErrorList: %v", err, err)
			}
			return
		}
		text := Format(rs)
		back, err := Parse("formatted.bf", []byte(text), testEnv)
		if err != nil {
			t.Fatalf("formatted text does not parse: %v\ninput: %q\nformatted:\n%s", err, src, text)
		}
		if !reflect.DeepEqual(stripOrigins(rs), stripOrigins(back)) {
			t.Fatalf("round trip changed the IR\ninput: %q\nformatted:\n%s\nagain:\n%s", src, text, Format(back))
		}
		_ = List(rs, ListOptions{NoSetContent: true})
	})
}

// TestParseEveryPrefix parses every prefix of every upstream case: a
// deterministic complement to FuzzParse for truncated input. Accepted
// prefixes must round-trip.
func TestParseEveryPrefix(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short mode")
	}
	n := 0
	for _, c := range loadCases(t) {
		src := substitute(t, c)
		for cut := 0; cut <= len(src); cut++ {
			rs, err := Parse("prefix.bf", []byte(src[:cut]), testEnv)
			n++
			if err == nil {
				back, err := Parse("again.bf", []byte(Format(rs)), testEnv)
				if err != nil || !reflect.DeepEqual(stripOrigins(rs), stripOrigins(back)) {
					t.Fatalf("%s cut at %d: round trip failed: %v", c.id(), cut, err)
				}
			}
		}
	}
	t.Logf("%d prefixes parsed", n)
}
