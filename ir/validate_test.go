package ir

import (
	"strings"
	"testing"
)

func TestValidateRefusals(t *testing.T) {
	mark := uint32(1)
	v, _, _ := KindPort.Parse("80", ParseEnv{})
	lo, _, _ := KindU32.Parse("5", ParseEnv{})
	hi, _, _ := KindU32.Parse("4", ParseEnv{})
	cases := []struct {
		name  string
		chain *Chain
		want  string
	}{
		{"bad policy", &Chain{Name: "c", Hook: HookXDP, Policy: Verdict{Kind: Continue}}, "not a valid chain policy"},
		{"bad name", &Chain{Name: "a/b", Hook: HookXDP}, "invalid chain name"},
		{"mark on xdp", &Chain{Name: "c", Hook: HookXDP, Rules: []*Rule{{Mark: &mark}}}, "mark is not supported by BF_HOOK_XDP"},
		{"mark on nf", &Chain{Name: "c", Hook: HookNFLocalIn, Rules: []*Rule{{Mark: &mark}}}, "mark is not supported"},
		{"flow_hash on xdp", &Chain{Name: "c", Hook: HookXDP, Rules: []*Rule{{Matches: []Match{{Field: MetaFlowHash, Value: lo}}}}}, "not supported by BF_HOOK_XDP"},
		{"empty range", &Chain{Name: "c", Hook: HookTCIngress, Rules: []*Rule{{Matches: []Match{{Field: MetaFlowHash, Op: OpRange, Value: lo, High: hi}}}}}, "start > end"},
		{"bad op", &Chain{Name: "c", Hook: HookXDP, Rules: []*Rule{{Matches: []Match{{Field: TCPDport, Op: OpAny, Value: v}}}}}, "does not support operator any"},
		{"unknown set", &Chain{Name: "c", Hook: HookXDP, Rules: []*Rule{{Matches: []Match{{Field: IP4Saddr, Op: OpIn, Set: "x"}}}}}, `unknown set "x"`},
		{"redirect nf", &Chain{Name: "c", Hook: HookNFLocalIn, Rules: []*Rule{{Verdict: Verdict{Kind: Redirect, Ifindex: 1}}}}, "REDIRECT is not supported"},
		{"redirect xdp in", &Chain{Name: "c", Hook: HookXDP, Rules: []*Rule{{Verdict: Verdict{Kind: Redirect, Ifindex: 1, Dir: DirIn}}}}, "only supports the out direction"},
		{"cgpath on xdp", &Chain{Name: "c", Hook: HookXDP, HookOpts: HookOpts{CgroupPath: "/x"}}, "cgpath is not supported"},
		{"same priorities", &Chain{Name: "c", Hook: HookNFLocalIn, HookOpts: HookOpts{Priorities: [2]int32{3, 3}}}, "two different non-zero"},
		{"lpm set multi key", &Chain{Name: "c", Hook: HookXDP, Sets: []*Set{{Name: "s", Key: []Field{IP4Snet, IP4Dnet}}}}, "only component"},
	}
	for _, tc := range cases {
		err := tc.chain.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
	ok := &Chain{Name: "ok", Hook: HookTCIngress, Policy: Verdict{Kind: Next}, Rules: []*Rule{{Mark: &mark, Verdict: Verdict{Kind: Redirect, Ifindex: 1, Dir: DirIn}}}}
	if err := ok.Validate(); err != nil {
		t.Errorf("valid chain refused: %v", err)
	}
}

func TestValidateRulesetJumps(t *testing.T) {
	rs := &Ruleset{Chains: []*Chain{
		{Name: "a", Hook: HookNFLocalIn, Rules: []*Rule{{Verdict: Verdict{Kind: Jump, Chain: "b"}}}},
		{Name: "b", Hook: HookNFLocalIn},
		{Name: "b", Hook: HookNFLocalIn},
	}}
	err := rs.Validate()
	if err == nil || !strings.Contains(err.Error(), "not a user chain") || !strings.Contains(err.Error(), "duplicate chain name") {
		t.Fatalf("got %v", err)
	}
}

func TestHookNamesRoundTrip(t *testing.T) {
	for _, h := range Hooks() {
		got, err := ParseHook(h.String())
		if err != nil || got != h {
			t.Errorf("ParseHook(%s) = %v, %v", h, got, err)
		}
	}
	if h, err := ParseHook("BF_HOOK_CGROUP_INGRESS"); err != nil || h != HookCgroupSkbIngress {
		t.Errorf("alias: %v %v", h, err)
	}
	if _, err := ParseHook("BF_HOOK_NOPE"); err == nil {
		t.Error("unknown hook accepted")
	}
}

func TestCloneIsDeep(t *testing.T) {
	mark := uint32(7)
	c := &Chain{Name: "c", Hook: HookTCIngress, Sets: []*Set{{Name: "s", Key: []Field{IP4Saddr}, Elems: []SetElem{{Key: []byte{1, 2, 3, 4}}}}},
		Rules: []*Rule{{Mark: &mark, Matches: []Match{{Field: IP4Saddr, Value: []byte{1, 2, 3, 4}}}}}}
	n := c.Clone()
	n.Sets[0].Elems[0].Key[0] = 9
	n.Rules[0].Matches[0].Value[0] = 9
	*n.Rules[0].Mark = 8
	if c.Sets[0].Elems[0].Key[0] != 1 || c.Rules[0].Matches[0].Value[0] != 1 || *c.Rules[0].Mark != 7 {
		t.Fatal("Clone shares memory with the original")
	}
}

func TestInvalidHookDoesNotPanic(t *testing.T) {
	h := Hook(200)
	if h.Valid() || h.Flavour() != FlavourInvalid || h.Ingress() || h.IsSockAddr() || h.SockAddrFamily() != 0 {
		t.Fatalf("invalid hook: valid=%v flavour=%v ingress=%v", h.Valid(), h.Flavour(), h.Ingress())
	}
	if (HookOpts{Ifindex: 1}).Attachable(h) {
		t.Fatal("invalid hook is attachable")
	}
	if err := (&Chain{Name: "c", Hook: h}).Validate(); err == nil {
		t.Fatal("chain on an invalid hook validated")
	}
	if got := h.String(); got != "BF_HOOK_UNKNOWN(200)" {
		t.Fatalf("String() = %q", got)
	}
}
