package daemon

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/bpfilter-go/bpfilter/daemon/proto"
	"github.com/bpfilter-go/bpfilter/ir"
)

// TestApplyRuleEdits: edits apply in order, each index in the chain as
// the edits before left it, and the carry map follows.
func TestApplyRuleEdits(t *testing.T) {
	base := irRules("chain x BF_HOOK_XDP ACCEPT rule udp.dport 1 DROP rule udp.dport 2 DROP rule udp.dport 3 DROP")
	n1 := irRules("chain x BF_HOOK_XDP ACCEPT rule udp.dport 10 DROP rule udp.dport 11 DROP")
	out, carry, err := applyRuleEdits(base, []ruleEdit{
		{Op: proto.EditInsert, Index: 3, Rules: n1[:1]},   // 1 2 3 10
		{Op: proto.EditDelete, Index: 0, Count: 2},        // 3 10
		{Op: proto.EditReplace, Index: 0, Rules: n1[1:]},  // 11 10
		{Op: proto.EditInsert, Index: 0, Rules: base[:1]}, // 1 11 10
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 3 || out[0] != base[0] || out[1] != n1[1] || out[2] != n1[0] {
		t.Fatalf("rules: %v", out)
	}
	if fmt.Sprint(carry) != "[-1 -1 -1]" {
		t.Fatalf("carry %v", carry)
	}
	_, carry, _ = applyRuleEdits(base, []ruleEdit{{Op: proto.EditDelete, Index: 1}})
	if fmt.Sprint(carry) != "[0 2]" {
		t.Fatalf("carry after deleting rule 1: %v", carry)
	}
	if len(base) != 3 {
		t.Fatal("the base rules were changed")
	}
	for _, bad := range [][]ruleEdit{
		{{Op: proto.EditInsert, Index: 4, Rules: n1}},
		{{Op: proto.EditDelete, Index: 3}},
		{{Op: proto.EditDelete, Index: 2, Count: 2}},
		{{Op: proto.EditReplace, Index: 2, Rules: n1}},
		{{Op: proto.EditDelete, Index: 0, Count: 3}, {Op: proto.EditDelete, Index: 0}},
		{{Op: "move", Index: 0}},
		{{Op: proto.EditDelete, Index: 1, Count: math.MaxInt}},
		{{Op: proto.EditDelete, Index: math.MaxInt, Count: 2}},
		{{Op: proto.EditReplace, Index: math.MaxInt, Rules: n1}},
		{{Op: proto.EditInsert, Index: math.MaxInt, Rules: n1}},
		{{Op: proto.EditInsert, Index: -1, Rules: n1}},
	} {
		if _, _, err := applyRuleEdits(base, bad); err == nil || Errno(err) != proto.EINVAL {
			t.Fatalf("%+v: %v, want EINVAL", bad, err)
		}
	}
}

// TestUpdateRulesRefused: bad edits are refused with a clear error and
// change nothing: not the chain, not its counters, not the saved context.
func TestUpdateRulesRefused(t *testing.T) {
	ts := setupInPlace(t, true)
	ctx, jr := readFile(t, ts.ctxFile), readFile(t, journalPath(ts.ctxFile))
	cases := []struct {
		name   string
		front  string
		chain  string
		edits  []proto.RuleEdit
		expect int
		errno  string
		msg    string
	}{
		{"unknown chain", "cli", "nope", []proto.RuleEdit{{Op: proto.EditDelete}}, -1, proto.ENOENT, "chain nope does not exist"},
		{"other front", "nftables", "a", []proto.RuleEdit{{Op: proto.EditDelete}}, -1, proto.EPERM, "cli frontend"},
		{"no edits", "cli", "a", nil, -1, proto.EINVAL, "at least one edit"},
		{"index past the end", "cli", "a", []proto.RuleEdit{{Op: proto.EditInsert, Index: 4, Text: "rule udp.dport 1 DROP"}}, -1, proto.EINVAL, "index 4 out of range"},
		{"second edit out of range", "cli", "a", []proto.RuleEdit{{Op: proto.EditDelete, Index: 0, Count: 3}, {Op: proto.EditDelete, Index: 0}}, -1, proto.EINVAL, "edit 1 (delete)"},
		{"stale client", "cli", "a", []proto.RuleEdit{{Op: proto.EditDelete}}, 7, proto.EAGAIN, "has 3 rules, the request expects 7"},
		{"parse error", "cli", "a", []proto.RuleEdit{{Op: proto.EditInsert, Text: "rule udp.dport 1 DROP\nrule ip4.sadr 1.2.3.4 DROP"}}, -1, proto.EINVAL, "<edit 0>:2:6"},
		{"unknown set", "cli", "a", []proto.RuleEdit{{Op: proto.EditReplace, Index: 1, Rules: irRules("chain x BF_HOOK_XDP ACCEPT set t (ip4.saddr) in { 198.18.0.1 } rule (ip4.saddr) in t DROP")}}, -1, proto.EINVAL, `unknown set "t"`},
		{"field not on the hook", "cli", "a", []proto.RuleEdit{{Op: proto.EditInsert, Rules: []*ir.Rule{notOnXDP(t)}}}, -1, proto.EINVAL, "not supported by BF_HOOK_XDP"},
		{"anonymous set", "cli", "a", []proto.RuleEdit{{Op: proto.EditInsert, Text: "rule (ip4.daddr) in { 198.18.0.1; 198.18.0.2 } DROP"}}, -1, proto.EOPNOTSUPP, "anonymous sets"},
		{"chain in the text", "cli", "a", []proto.RuleEdit{{Op: proto.EditInsert, Text: "chain b BF_HOOK_XDP ACCEPT"}}, -1, proto.EINVAL, "rule statements only"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := ts.ChainUpdateRules(c.front, c.chain, c.edits, c.expect, ts.peer, false)
			wantErrno(t, err, c.errno)
			if !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("error %q does not say %q", err, c.msg)
			}
			t.Log(err)
			wantOld(t, ts, ts.State)
			if !bytes.Equal(readFile(t, ts.ctxFile), ctx) || !bytes.Equal(readFile(t, journalPath(ts.ctxFile)), jr) {
				t.Fatal("a refused edit changed the saved context")
			}
		})
	}
	// A dry run checks and changes nothing.
	if err := ts.ChainUpdateRules("cli", "a", []proto.RuleEdit{{Op: proto.EditDelete, Index: 2}}, 3, ts.peer, true); err != nil {
		t.Fatal(err)
	}
	wantOld(t, ts, ts.State)
	if ts.k.updates != 0 {
		t.Fatal("a dry run wrote the program")
	}
}

// notOnXDP returns a rule matching a field BF_HOOK_XDP does not support.
func notOnXDP(t *testing.T) *ir.Rule {
	for _, f := range ir.Fields() {
		if !f.ValidOn(ir.HookXDP) && f.SupportsOp(ir.OpEq) && f.Width() > 0 {
			return &ir.Rule{Matches: []ir.Match{{Field: f, Op: ir.OpEq, Value: make([]byte, f.Width())}}, Verdict: ir.Verdict{Kind: ir.Drop}}
		}
	}
	t.Fatal("every field is supported by BF_HOOK_XDP")
	return nil
}

// TestUpdateRulesBigChangeReplaces: more than maxInPlaceRules inserted
// rules go through an atomic Replace, recorded in the journal as a patch,
// and restored after a restart with the counters of the other rules.
func TestUpdateRulesBigChangeReplaces(t *testing.T) {
	ts := setupInPlace(t, true)
	loads := ts.k.loads
	var sb strings.Builder
	for i := 0; i <= maxInPlaceRules; i++ {
		fmt.Fprintf(&sb, "rule udp.dport %d counter DROP\n", 2000+i)
	}
	if err := ts.ChainUpdateRules("cli", "a", []proto.RuleEdit{{Op: proto.EditInsert, Index: 1, Text: sb.String()}}, 3, ts.peer, false); err != nil {
		t.Fatal(err)
	}
	if ts.k.updates != 0 || ts.k.loads != loads+1 {
		t.Fatalf("a %d-rule insertion was not reloaded (updates %d, loads %d)", maxInPlaceRules+1, ts.k.updates, ts.k.loads-loads)
	}
	check := func(s *State) {
		t.Helper()
		got, err := s.ChainGet("cli", "a", false)
		if err != nil {
			t.Fatal(err)
		}
		n := len(got.Chain.Rules)
		if n != 3+maxInPlaceRules+1 {
			t.Fatalf("%d rules", n)
		}
		c := got.Counters
		if c.Rules[0].Packets != 10 || c.Rules[n-2].Packets != 20 || c.Rules[n-1].Packets != 30 || c.Rules[1].Packets != 0 || c.Policy.Packets != 5 {
			t.Fatalf("counters %+v", c)
		}
		if inForce := ts.k.inForce("BF_HOOK_XDP{ifindex=2}"); inForce == nil || !sameRules(inForce, got.Chain) {
			t.Fatal("the kernel does not run the chain the context holds")
		}
	}
	check(ts.State)
	if !bytes.Contains(readFile(t, journalPath(ts.ctxFile)), []byte(`"patch"`)) {
		t.Fatal("the replace was not recorded as a patch")
	}
	ts.k.die(ts.pinRoot)
	st := ts.reopen(t, true)
	if err := st.Restore(); err != nil {
		t.Fatal(err)
	}
	check(st)
}
