package cli

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bpfilter-go/bpfilter/ir"
)

// mustParse parses src with testEnv and fails the test on error.
func mustParse(t *testing.T, src string) *ir.Ruleset {
	t.Helper()
	rs, err := Parse("test.bf", []byte(src), testEnv)
	if err != nil {
		t.Fatalf("Parse(%q): %v", src, err)
	}
	return rs
}

func u32(v uint32) *uint32 { return &v }

func TestParseIR(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string
		want *ir.Chain
	}{{
		name: "empty chain",
		src:  "chain c BF_HOOK_XDP ACCEPT",
		want: &ir.Chain{Name: "c", Hook: ir.HookXDP, Policy: ir.Verdict{Kind: ir.Accept}},
	}, {
		name: "default eq, not, range, flags",
		src: `chain c BF_HOOK_TC_EGRESS{ifindex=7} NEXT
			rule ip4.proto icmp tcp.sport not 80 tcp.dport range 1000-2000 tcp.flags all syn,ack DROP`,
		want: &ir.Chain{Name: "c", Hook: ir.HookTCEgress, HookOpts: ir.HookOpts{Ifindex: 7}, Policy: ir.Verdict{Kind: ir.Next},
			Rules: []*ir.Rule{{Matches: []ir.Match{
				{Field: ir.IP4Proto, Op: ir.OpEq, Value: []byte{1}},
				{Field: ir.TCPSport, Op: ir.OpEq, Negate: true, Value: []byte{0, 80}},
				{Field: ir.TCPDport, Op: ir.OpRange, Value: []byte{0x03, 0xe8}, High: []byte{0x07, 0xd0}},
				{Field: ir.TCPFlags, Op: ir.OpAll, Value: []byte{0x12}},
			}, Verdict: ir.Verdict{Kind: ir.Drop}}}},
	}, {
		name: "prefix is masked",
		src:  "chain c BF_HOOK_NF_LOCAL_IN{family=inet6,priorities=-5-7} DROP rule ip4.snet not eq 10.1.2.3/8 ACCEPT",
		want: &ir.Chain{Name: "c", Hook: ir.HookNFLocalIn, HookOpts: ir.HookOpts{Family: "inet6", Priorities: [2]int32{-5, 7}},
			Policy: ir.Verdict{Kind: ir.Drop},
			Rules: []*ir.Rule{{Matches: []ir.Match{
				{Field: ir.IP4Snet, Op: ir.OpEq, Negate: true, Value: []byte{10, 0, 0, 0}, Mask: []byte{0xff, 0, 0, 0}},
			}, Verdict: ir.Verdict{Kind: ir.Accept}}}},
	}, {
		name: "actions in any order",
		src:  "chain c BF_HOOK_TC_INGRESS ACCEPT rule mark 20 counter log internet,link every 1.5s CONTINUE",
		want: &ir.Chain{Name: "c", Hook: ir.HookTCIngress, Policy: ir.Verdict{Kind: ir.Accept},
			Rules: []*ir.Rule{{Counter: true, Mark: u32(20),
				Log:     &ir.Log{Headers: ir.LogLink | ir.LogInternet, Every: 1500 * time.Millisecond},
				Verdict: ir.Verdict{Kind: ir.Continue}}}},
	}, {
		name: "bare log, redirect by name",
		src:  "chain c BF_HOOK_TC_INGRESS ACCEPT rule log REDIRECT redir1 in",
		want: &ir.Chain{Name: "c", Hook: ir.HookTCIngress, Policy: ir.Verdict{Kind: ir.Accept},
			Rules: []*ir.Rule{{Log: &ir.Log{Headers: ir.LogAll}, Verdict: ir.Verdict{Kind: ir.Redirect, Ifindex: 1001, Dir: ir.DirIn}}}},
	}, {
		name: "named, anonymous and LPM sets",
		src: `chain c BF_HOOK_XDP{iface=redir0} ACCEPT
			set blocked (ip4.saddr, tcp.dport) in {
				1.1.1.1, 22   # comment
				2.2.2.2, 80;
			}
			rule (ip4.saddr, tcp.dport) not in blocked DROP
			rule (ip6.dnet) in { 2001:db8::/32; ::1/128 } DROP
			rule (icmp.type) in {} ACCEPT`,
		want: &ir.Chain{Name: "c", Hook: ir.HookXDP, HookOpts: ir.HookOpts{Iface: "redir0", Ifindex: 1000}, Policy: ir.Verdict{Kind: ir.Accept},
			Sets: []*ir.Set{
				{Name: "blocked", Key: []ir.Field{ir.IP4Saddr, ir.TCPDport}, Elems: []ir.SetElem{
					{Key: []byte{1, 1, 1, 1, 0, 22}}, {Key: []byte{2, 2, 2, 2, 0, 80}}}},
				{Name: "__anon_0", Anonymous: true, Key: []ir.Field{ir.IP6Dnet}, Elems: []ir.SetElem{
					{Key: []byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, PrefixLen: 32},
					{Key: []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, PrefixLen: 128}}},
				{Name: "__anon_1", Anonymous: true, Key: []ir.Field{ir.ICMPType}, Elems: []ir.SetElem{}},
			},
			Rules: []*ir.Rule{
				{Matches: []ir.Match{{Field: ir.IP4Saddr, Op: ir.OpIn, Negate: true, Set: "blocked"}}, Verdict: ir.Verdict{Kind: ir.Drop}},
				{Matches: []ir.Match{{Field: ir.IP6Dnet, Op: ir.OpIn, Set: "__anon_0"}}, Verdict: ir.Verdict{Kind: ir.Drop}},
				{Matches: []ir.Match{{Field: ir.ICMPType, Op: ir.OpIn, Set: "__anon_1"}}, Verdict: ir.Verdict{Kind: ir.Accept}},
			}},
	}, {
		name: "hook alias",
		src:  "chain c BF_HOOK_CGROUP_INGRESS{cgpath=/sys/fs/cgroup/x} DROP",
		want: &ir.Chain{Name: "c", Hook: ir.HookCgroupSkbIngress, HookOpts: ir.HookOpts{CgroupPath: "/sys/fs/cgroup/x"}, Policy: ir.Verdict{Kind: ir.Drop}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			rs := stripOrigins(mustParse(t, tc.src))
			if len(rs.Chains) != 1 {
				t.Fatalf("got %d chains, want 1", len(rs.Chains))
			}
			want := stripOrigins(&ir.Ruleset{Chains: []*ir.Chain{tc.want}}).Chains[0]
			if got := rs.Chains[0]; !reflect.DeepEqual(got, want) {
				t.Errorf("got:\n%s\n%#v\nwant:\n%s\n%#v", FormatChain(got), got, FormatChain(tc.want), tc.want)
			}
		})
	}
}

func TestParseOrigins(t *testing.T) {
	rs := mustParse(t, "# header\nchain c BF_HOOK_XDP ACCEPT # policy\n  rule\n    ip4.proto tcp   # tcp only\n    DROP\n")
	c := rs.Chains[0]
	if c.Origin.Line != 2 || c.Origin.Column != 1 || c.Origin.File != "test.bf" || c.Origin.Frontend != "cli" ||
		c.Origin.Text != "chain c BF_HOOK_XDP ACCEPT" {
		t.Errorf("chain origin = %+v", c.Origin)
	}
	o := c.Rules[0].Origin
	if o.Line != 3 || o.Column != 3 || o.Text != "rule ip4.proto tcp DROP" {
		t.Errorf("rule origin = %+v", o)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		src  string
		want string
	}{
		{"chain c BF_HOOK_XDP ACCEPT\nrule\n      ip4.sadr eq 1.1.1.1 DROP", `rules.bf:3:7: unknown matcher "ip4.sadr" (did you mean ip4.saddr?)`},
		{"chain c BF_HOOK_XDP ACCEPT rule ip4.proto tcp DROPP", `rules.bf:1:47: unknown matcher "DROPP" (did you mean DROP?)`},
		{"chain c BF_HOOK_XPD ACCEPT", `rules.bf:1:9: unknown hook "BF_HOOK_XPD" (did you mean BF_HOOK_XDP?)`},
		{"chain c BF_HOOK_XDP CONTINUE", `rules.bf:1:21: CONTINUE is not a valid chain policy (use ACCEPT, DROP or NEXT)`},
		{"chain c BF_HOOK_XDP accept", `rules.bf:1:21: unknown chain policy "accept" (did you mean ACCEPT?)`},
		{"rule ip4.proto tcp DROP", `rules.bf:1:1: expected "chain", got "rule"`},
		{"chain c BF_HOOK_XDP ACCEPT rule ip4.proto tcp", `rules.bf:1:46: rule has no verdict: expected ACCEPT, DROP, CONTINUE, NEXT or REDIRECT before end of input`},
		{"chain c BF_HOOK_XDP{ifindex=1,ifindex=2} ACCEPT", `rules.bf:1:31: hook option "ifindex" is given more than once`},
		{"chain c BF_HOOK_XDP{ifindx=1} ACCEPT", `rules.bf:1:21: unknown hook option "ifindx" (did you mean ifindex?)`},
		{"chain c BF_HOOK_XDP{cgpath=/x} ACCEPT", `rules.bf:1:9: hook option cgpath is not supported by BF_HOOK_XDP`},
		{"chain c BF_HOOK_XDP ACCEPT rule meta.mark 1 DROP", `rules.bf:1:33: matcher meta.mark is not supported by BF_HOOK_XDP`},
		{"chain c BF_HOOK_XDP ACCEPT rule ip4.saddr range 1.1.1.1-2.2.2.2 DROP", `rules.bf:1:33: matcher ip4.saddr does not support operator range (supported: eq, in)`},
		{"chain c BF_HOOK_XDP ACCEPT rule ip4.saddr in { 1.1.1.1 } DROP", `rules.bf:1:43: matcher ip4.saddr: the in operator needs a set key in parentheses, e.g. (ip4.saddr) in { ... }`},
		{"chain c BF_HOOK_XDP ACCEPT rule ip4.saddr eq 1.1.1 DROP", `rules.bf:1:46: ip4.saddr: invalid IPv4 address "1.1.1"`},
		{"chain c BF_HOOK_XDP ACCEPT rule counter counter DROP", `rules.bf:1:41: duplicate keyword "counter" in rule`},
		{"chain c BF_HOOK_XDP ACCEPT rule counter ip4.proto tcp DROP", `rules.bf:1:41: matcher ip4.proto must come before counter, log and mark`},
		{"chain c BF_HOOK_XDP ACCEPT rule log every 0s DROP", `rules.bf:1:43: invalid log interval "0s": must be positive`},
		{"chain c BF_HOOK_XDP ACCEPT rule log link,ip DROP", `rules.bf:1:37: unknown log header "ip" in "link,ip" (expected link, internet or transport)`},
		{"chain c BF_HOOK_XDP ACCEPT rule mark 1 DROP", `rules.bf:1:33: mark is not supported by BF_HOOK_XDP (only TC and cgroup_skb hooks can set a mark)`},
		{"chain c BF_HOOK_XDP ACCEPT rule REDIRECT 1 in", `rules.bf:1:28: chain c, rule 0: REDIRECT on BF_HOOK_XDP only supports the out direction`},
		{"chain c BF_HOOK_XDP ACCEPT rule REDIRECT nosuchif0 out", `rules.bf:1:42: REDIRECT to unknown interface "nosuchif0": resolving interface: route ip+net: no such network interface`},
		{"chain c BF_HOOK_XDP ACCEPT rule JUMP other", `rules.bf:1:33: verdict JUMP is not supported by bfcli`},
		{"chain c BF_HOOK_XDP ACCEPT set s (ip4.saddr) in {}\nrule (ip4.daddr) in s DROP", `rules.bf:2:6: set s has key (ip4.saddr), but the rule uses (ip4.daddr)`},
		{"chain c BF_HOOK_XDP ACCEPT rule (ip4.saddr) in sett DROP", `rules.bf:1:48: unknown set "sett" in chain c`},
		{"chain c BF_HOOK_XDP ACCEPT set s (ip4.saddr) in { 1.1.1.1", `rules.bf:1:49: set elements are not closed with "}"`},
		{"chain c BF_HOOK_XDP ACCEPT rule (meta.dport) in { 1 } DROP", `rules.bf:1:34: matcher meta.dport cannot be used in a set key`},
		{"chain c BF_HOOK_XDP ACCEPT rule DROP set s (ip4.saddr) in {}", `rules.bf:1:38: set declarations must come before the rules of chain c`},
		{"chain c BF_HOOK_XDP ACCEPT chain c BF_HOOK_TC_INGRESS DROP", `rules.bf:1:28: chain c: duplicate chain name`},
		{"chain a/b BF_HOOK_XDP ACCEPT", `rules.bf:1:7: invalid chain name "a/b" (use up to 128 letters, digits, '_', '.' and '-')`},
		{"chain c BF_HOOK_XDP ACCEPT set __anon_0 (ip4.saddr) in {}", `rules.bf:1:32: invalid set name "__anon_0" (use letters, digits and '_')`},
	} {
		_, err := Parse("rules.bf", []byte(tc.src), testEnv)
		if err == nil {
			t.Errorf("Parse(%q) succeeded, want %s", tc.src, tc.want)
			continue
		}
		if err.Error() != tc.want {
			t.Errorf("Parse(%q):\n got %s\nwant %s", tc.src, err, tc.want)
		}
	}
}

func TestParseRecoversAndReportsEveryRule(t *testing.T) {
	src := `chain a BF_HOOK_XDP ACCEPT
    rule ip4.sadr 1.1.1.1 DROP
    rule ip4.proto tcp DROP
    rule tcp.dport 99999 DROP
chain b BF_HOOK_XPD ACCEPT
chain c BF_HOOK_XDP ACCEPT
    rule udp.dport eq x DROP
`
	_, err := Parse("multi.bf", []byte(src), testEnv)
	var l ErrorList
	if !errors.As(err, &l) {
		t.Fatalf("error %v is not an ErrorList", err)
	}
	var lines []int
	for _, e := range l {
		lines = append(lines, e.Pos.Line)
	}
	if fmt.Sprint(lines) != "[2 4 5 7]" {
		t.Errorf("errors on lines %v, want [2 4 5 7]:\n%v", lines, err)
	}
}

func TestParseErrorLimit(t *testing.T) {
	src := "chain c BF_HOOK_XDP ACCEPT\n" + strings.Repeat("rule nope DROP\n", 50)
	_, err := Parse("many.bf", []byte(src), testEnv)
	var l ErrorList
	if !errors.As(err, &l) || len(l) != maxErrors+1 {
		t.Fatalf("got %d errors, want %d: %v", len(l), maxErrors+1, err)
	}
	if last := l[len(l)-1].Msg; last != "too many errors, giving up" {
		t.Errorf("last error = %q", last)
	}
}

func TestParseNamesNeedResolver(t *testing.T) {
	for _, src := range []string{
		"chain c BF_HOOK_XDP ACCEPT rule meta.iface lo DROP",
		"chain c BF_HOOK_TC_INGRESS ACCEPT rule REDIRECT lo out",
	} {
		if _, err := Parse("x.bf", []byte(src), ir.ParseEnv{}); err == nil {
			t.Errorf("Parse(%q) without resolver succeeded", src)
		}
	}
	// An iface hook option is kept by name for the daemon to resolve.
	rs, err := Parse("x.bf", []byte("chain c BF_HOOK_XDP{iface=eth7} ACCEPT"), ir.ParseEnv{})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if o := rs.Chains[0].HookOpts; o.Iface != "eth7" || o.Ifindex != 0 {
		t.Errorf("hook options = %+v", o)
	}
}

func TestParseEmpty(t *testing.T) {
	for _, src := range []string{"", "   \n\n", "# nothing\n# here"} {
		rs := mustParse(t, src)
		if len(rs.Chains) != 0 {
			t.Errorf("Parse(%q) = %d chains", src, len(rs.Chains))
		}
	}
}
