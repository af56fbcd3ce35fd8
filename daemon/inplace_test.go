package daemon

import (
	"fmt"
	"os"
	"testing"

	"github.com/bpfilter-go/bpfilter/daemon/proto"
	"github.com/bpfilter-go/bpfilter/frontends/cli"
	"github.com/bpfilter-go/bpfilter/ir"
)

const inPlaceBase = `chain a BF_HOOK_XDP{ifindex=2} ACCEPT
	set s (ip4.saddr) in { 198.18.0.1 }
	rule ip4.proto icmp counter DROP
	rule (ip4.saddr) in s counter DROP
	rule udp.dport 53 counter ACCEPT`

// inPlaceOps are the in-place operations of the tests: update-set, a
// chain.update replacing one rule (same numbering) and one inserting a
// rule (the program is marked, Restore refuses its pins).
var inPlaceOps = map[string]struct {
	next    string // chain.update; "" for update-set
	counted []int  // new rule index → old rule index whose count it keeps
	// edits, when set, make the op a chain.update-rules whose result
	// is next.
	edits []proto.RuleEdit
}{
	"update-set": {"", []int{0, 1, 2}, nil},
	"replace rule": {`chain a BF_HOOK_XDP ACCEPT
	set s (ip4.saddr) in { 198.18.0.1 }
	rule ip4.proto icmp counter DROP
	rule (ip4.saddr) in s counter DROP
	rule udp.dport 54 counter ACCEPT`, []int{0, 1, -1}, nil},
	"insert rule": {`chain a BF_HOOK_XDP ACCEPT
	set s (ip4.saddr) in { 198.18.0.1 }
	rule tcp.dport 22 counter ACCEPT
	rule ip4.proto icmp counter DROP
	rule (ip4.saddr) in s counter DROP
	rule udp.dport 53 counter ACCEPT`, []int{-1, 0, 1, 2}, nil},
	// chain.update-rules (rules.go): the same changes sent as edits.
	"update-rules replace": {`chain a BF_HOOK_XDP ACCEPT
	set s (ip4.saddr) in { 198.18.0.1 }
	rule ip4.proto icmp counter DROP
	rule (ip4.saddr) in s counter DROP
	rule udp.dport 54 counter ACCEPT`, []int{0, 1, -1},
		[]proto.RuleEdit{{Op: proto.EditReplace, Index: 2, Text: "rule udp.dport 54 counter ACCEPT"}}},
	"update-rules insert": {`chain a BF_HOOK_XDP ACCEPT
	set s (ip4.saddr) in { 198.18.0.1 }
	rule tcp.dport 22 counter ACCEPT
	rule ip4.proto icmp counter DROP
	rule (ip4.saddr) in s counter DROP
	rule udp.dport 53 counter ACCEPT`, []int{-1, 0, 1, 2},
		[]proto.RuleEdit{{Op: proto.EditInsert, Index: 0, Rules: irRules("chain x BF_HOOK_XDP ACCEPT rule tcp.dport 22 counter ACCEPT")}}},
	"update-rules delete and append": {`chain a BF_HOOK_XDP ACCEPT
	set s (ip4.saddr) in { 198.18.0.1 }
	rule ip4.proto icmp counter DROP
	rule udp.dport 53 counter ACCEPT
	rule (ip4.saddr) in s counter ACCEPT`, []int{0, 2, -1},
		[]proto.RuleEdit{{Op: proto.EditDelete, Index: 1}, {Op: proto.EditInsert, Index: 2, Text: "rule (ip4.saddr) in s counter ACCEPT"}}},
}

// irRules returns the rules of a one-chain bfcli text (nil if it does not
// parse: the test using them then fails).
func irRules(text string) []*ir.Rule {
	rs, err := cli.Parse("rules.bf", []byte(text), ir.ParseEnv{})
	if err != nil || len(rs.Chains) != 1 {
		return nil
	}
	return rs.Chains[0].Rules
}

func runInPlaceOp(t *testing.T, s *State, ts *testState, next string, edits []proto.RuleEdit) error {
	if edits != nil {
		return s.ChainUpdateRules("cli", "a", edits, -1, ts.peer, false)
	}
	if next == "" {
		return s.ChainUpdateSet("cli", "a", "s", []string{"198.18.0.2"}, []string{"198.18.0.1"}, ts.peer, false)
	}
	return s.ChainUpdate("cli", parseChain(t, next), ts.peer, false)
}

// wantNew checks that the chain in force and in the context is the new
// version of op, with the counters of unchanged rules (rule i of the base
// chain counted 10*(i+1), the policy 5).
func wantNew(t *testing.T, ts *testState, s *State, next string, counted []int) {
	t.Helper()
	got, err := s.ChainGet("cli", "a", false)
	if err != nil {
		t.Fatal(err)
	}
	if next != "" && !sameRules(got.Chain, parseChain(t, next)) {
		t.Fatalf("context holds %d rules, not the new version", len(got.Chain.Rules))
	}
	if next == "" {
		el := got.Chain.Set("s").Elems
		if len(el) != 1 || ir.KindIPv4.Format(el[0].Key, nil) != "198.18.0.2" {
			t.Fatalf("set content: %+v", el)
		}
	}
	inForce := ts.k.inForce("BF_HOOK_XDP{ifindex=2}")
	if inForce == nil || !sameRules(inForce, got.Chain) {
		t.Fatal("the kernel does not run the chain the context holds")
	}
	if next == "" && ir.KindIPv4.Format(inForce.Set("s").Elems[0].Key, nil) != "198.18.0.2" {
		t.Fatal("the kernel runs the old set content")
	}
	for j, i := range counted {
		want := uint64(0)
		if i >= 0 {
			want = uint64(10 * (i + 1))
		}
		if got.Counters.Rules[j].Packets != want {
			t.Fatalf("rule %d: %d packets, want %d (%+v)", j, got.Counters.Rules[j].Packets, want, got.Counters)
		}
	}
	if got.Counters.Policy.Packets != 5 {
		t.Fatalf("policy counter %d, want 5", got.Counters.Policy.Packets)
	}
}

// wantOld checks that the chain in force and in the context is the base
// version with its counters.
func wantOld(t *testing.T, ts *testState, s *State) {
	t.Helper()
	got, err := s.ChainGet("cli", "a", false)
	if err != nil {
		t.Fatal(err)
	}
	if !sameRules(got.Chain, parseChain(t, inPlaceBase)) {
		t.Fatalf("context holds %d rules, not the old version", len(got.Chain.Rules))
	}
	if el := got.Chain.Set("s").Elems; len(el) != 1 || ir.KindIPv4.Format(el[0].Key, nil) != "198.18.0.1" {
		t.Fatalf("set content: %+v", el)
	}
	inForce := ts.k.inForce("BF_HOOK_XDP{ifindex=2}")
	if inForce == nil || !sameRules(inForce, got.Chain) {
		t.Fatal("the kernel does not run the chain the context holds")
	}
	for i := range 3 {
		if got.Counters.Rules[i].Packets != uint64(10*(i+1)) {
			t.Fatalf("rule %d: %d packets (%+v)", i, got.Counters.Rules[i].Packets, got.Counters)
		}
	}
	if got.Counters.Policy.Packets != 5 {
		t.Fatalf("policy counter %d, want 5", got.Counters.Policy.Packets)
	}
}

func setupInPlace(t *testing.T, persistent bool) *testState {
	ts := newTestState(t, persistent)
	ts.k.inPlace = true
	if err := ts.ChainSet("cli", parseChain(t, inPlaceBase), ts.peer, false); err != nil {
		t.Fatal(err)
	}
	p := ts.chains["a"].prog.(*fakeProg)
	p.hit(0, 10)
	p.hit(1, 20)
	p.hit(2, 30)
	p.hit(-1, 5)
	return ts
}

// TestInPlaceUpdate: update-set and small chain updates are written into
// the loaded program (no load), keep counters, and survive a restart in
// standard mode (a marked program is reloaded from its IR with its
// counters carried).
func TestInPlaceUpdate(t *testing.T) {
	for name, op := range inPlaceOps {
		t.Run(name, func(t *testing.T) {
			ts := setupInPlace(t, true)
			loads := ts.k.loads
			prog := ts.chains["a"].prog
			if err := runInPlaceOp(t, ts.State, ts, op.next, op.edits); err != nil {
				t.Fatal(err)
			}
			if ts.k.loads != loads || ts.k.updates != 1 || ts.chains["a"].prog != prog {
				t.Fatalf("loads %d→%d, updates %d: not updated in place", loads, ts.k.loads, ts.k.updates)
			}
			wantNew(t, ts, ts.State, op.next, op.counted)
			if err := ts.Shutdown(false); err != nil {
				t.Fatal(err)
			}
			ts.k.die(ts.pinRoot)
			st := ts.reopen(t, true)
			if err := st.Restore(); err != nil {
				t.Fatal(err)
			}
			wantNew(t, ts, st, op.next, op.counted)
			// A second restart sees the saved result of the first.
			if err := st.Shutdown(false); err != nil {
				t.Fatal(err)
			}
			ts.k.die(ts.pinRoot)
			st = ts.reopen(t, true)
			if err := st.Restore(); err != nil {
				t.Fatal(err)
			}
			wantNew(t, ts, st, op.next, op.counted)
		})
	}
}

// TestInPlaceFallsBack: a change bigger than maxInPlaceRules, or one the
// program refuses, is swapped in by Replace.
func TestInPlaceFallsBack(t *testing.T) {
	ts := setupInPlace(t, false)
	big := "chain a BF_HOOK_XDP ACCEPT\n set s (ip4.saddr) in { 198.18.0.1 }\n"
	for i := 0; i <= maxInPlaceRules; i++ {
		big += fmt.Sprintf("rule udp.dport %d counter DROP\n", 1000+i)
	}
	loads := ts.k.loads
	if err := ts.ChainUpdate("cli", parseChain(t, big), ts.peer, false); err != nil {
		t.Fatal(err)
	}
	if ts.k.updates != 0 || ts.k.loads != loads+1 {
		t.Fatalf("a %d-rule change was not reloaded (updates %d)", maxInPlaceRules+1, ts.k.updates)
	}
	ts.k.inPlace = false
	if err := ts.ChainUpdateSet("cli", "a", "s", []string{"198.18.0.2"}, nil, ts.peer, false); err != nil {
		t.Fatal(err)
	}
	if ts.k.updates != 0 || ts.k.loads != loads+2 {
		t.Fatal("a refused in-place update was not reloaded")
	}
}

// TestInPlaceWriteFailure: when the writes fail part way, the new version
// is loaded and swapped in.
func TestInPlaceWriteFailure(t *testing.T) {
	ts := setupInPlace(t, true)
	ts.k.failUpdate = os.ErrPermission
	if err := ts.ChainUpdate("cli", parseChain(t, inPlaceOps["replace rule"].next), ts.peer, false); err != nil {
		t.Fatal(err)
	}
	wantNew(t, ts, ts.State, inPlaceOps["replace rule"].next, inPlaceOps["replace rule"].counted)
}

// TestCrashDuringInPlaceUpdate: a daemon killed at any step of an in-place
// update, including in the middle of the writes, restarts with the new
// version in force, and the counters of unchanged rules kept.
func TestCrashDuringInPlaceUpdate(t *testing.T) {
	// journal-*: inside the journal appends (persist_journal.go); a
	// plan record torn by the kill leaves the old version.
	points := []string{"inplace-saved", "mid-writes", "inplace-written", "committed",
		"journal-torn-plan", "journal-plan", "journal-torn-commit", "journal-commit"}
	for name, op := range inPlaceOps {
		for _, point := range points {
			t.Run(name+"/"+point, func(t *testing.T) {
				ts := setupInPlace(t, true)
				if point == "mid-writes" {
					ts.k.midUpdate = func() { ts.crash(point) }
				}
				if !runUntilCrash(t, ts.State, point, func() error { return runInPlaceOp(t, ts.State, ts, op.next, op.edits) }) {
					t.Fatalf("never reached %s", point)
				}
				ts.k.midUpdate = nil
				st := ts.restartAfterCrash(t)
				if point == "journal-torn-plan" {
					wantOld(t, ts, st)
				} else {
					wantNew(t, ts, st, op.next, op.counted)
				}
				if len(ts.k.progs) != 1 {
					t.Fatalf("%d programs remain loaded, want 1", len(ts.k.progs))
				}
				if des, _ := os.ReadDir(ts.pinRoot); len(des) != 1 {
					t.Fatalf("%d pin directories remain, want 1", len(des))
				}
			})
		}
	}
}
