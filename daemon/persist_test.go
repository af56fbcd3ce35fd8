package daemon

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/bpfilter-go/bpfilter/ir"
)

type crashed struct{ point string }

// runUntilCrash runs op with the state set to "die" at point.
func runUntilCrash(t *testing.T, s *State, point string, op func() error) (died bool) {
	t.Helper()
	s.crashHook = func(p string) {
		if p == point {
			panic(crashed{p})
		}
	}
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(crashed); !ok {
				panic(r)
			}
			died = true
		}
	}()
	if err := op(); err != nil {
		t.Fatalf("op failed before the crash point %s: %v", point, err)
	}
	return false
}

func sameRules(a, b *ir.Chain) bool {
	return a != nil && b != nil && reflect.DeepEqual(stripOrigins(a).Rules, stripOrigins(b).Rules) && a.Policy == b.Policy
}

func TestRestoreAfterStop(t *testing.T) {
	ts := newTestState(t, true)
	rs := parseRS(t, `chain a BF_HOOK_XDP{ifindex=2} ACCEPT rule ip4.proto icmp counter DROP
		chain b BF_HOOK_NF_LOCAL_IN ACCEPT
		chain c BF_HOOK_CGROUP_SKB_EGRESS{cgpath=/sys/fs/cgroup/test} ACCEPT`)
	if err := ts.RulesetSet("cli", rs, ts.peer, false); err != nil {
		t.Fatal(err)
	}
	ts.chains["a"].prog.(*fakeProg).hit(0, 4)
	if err := ts.Shutdown(false); err != nil {
		t.Fatal(err)
	}
	ts.k.die(ts.pinRoot)
	if ts.k.inForce("BF_HOOK_XDP{ifindex=2}") == nil {
		t.Fatal("filtering stopped with the daemon")
	}
	st := ts.reopen(t, true)
	if err := st.Restore(); err != nil {
		t.Fatal(err)
	}
	cs, err := st.RulesetGet("cli", false)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 3 || cs[0].Counters.Rules[0].Packets != 4 || !cs[0].Attached || cs[1].Attached || !cs[2].Attached {
		t.Fatalf("restored context differs: %+v", cs)
	}
	// The restored daemon still refuses duplicates and can update.
	wantErrno(t, st.ChainSet("cli", parseChain(t, "chain d BF_HOOK_XDP{ifindex=2} ACCEPT"), ts.peer, false), "EEXIST")
	if err := st.ChainUpdate("cli", parseChain(t, "chain a BF_HOOK_XDP ACCEPT rule ip4.proto icmp counter DROP rule ip4.proto udp DROP"), ts.peer, false); err != nil {
		t.Fatal(err)
	}
	got, _ := st.ChainGet("cli", "a", false)
	if got.Counters.Rules[0].Packets != 4 {
		t.Fatalf("counters lost across restart+update: %+v", got.Counters)
	}
	// Transient shutdown of this one removes everything.
	if err := st.Shutdown(true); err != nil {
		t.Fatal(err)
	}
	if len(ts.k.attached) != 0 || len(ts.k.progs) != 0 {
		t.Fatal("clear shutdown left kernel objects")
	}
}

func TestCorruptedContextIsRefused(t *testing.T) {
	ts := newTestState(t, true)
	if err := ts.ChainSet("cli", parseChain(t, "chain a BF_HOOK_XDP{ifindex=2} ACCEPT"), ts.peer, false); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(ts.ctxFile)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{
		"truncated":    string(good[:len(good)/2]),
		"garbage":      "\x00\x01garbage",
		"version":      strings.Replace(string(good), `"version": 2`, `"version": 99`, 1),
		"bad hook":     strings.Replace(string(good), `"Hook": 0`, `"Hook": 200`, 1),
		"unknown key":  strings.Replace(string(good), `"version": 2`, `"version": 2, "surprise": true`, 1),
		"missing pin":  strings.Replace(string(good), `"gen": 1`, `"gen": 0`, 1),
		"escaping pin": strings.Replace(string(good), `"pin": "a@1"`, `"pin": "../../x@1"`, 1),
	}
	for name, text := range cases {
		t.Run(name, func(t *testing.T) {
			if text == string(good) {
				t.Fatal("corruption did not change the file")
			}
			if err := os.WriteFile(ts.ctxFile, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			st := ts.reopen(t, true)
			err := st.Restore()
			if err == nil {
				t.Fatal("corrupted context accepted")
			}
			t.Log(err)
			if !strings.Contains(err.Error(), ContextFileName) {
				t.Fatalf("error does not name the file: %v", err)
			}
			if ts.k.inForce("BF_HOOK_XDP{ifindex=2}") == nil {
				t.Fatal("failed restore touched the kernel")
			}
		})
	}
	// A context naming pins that are gone is refused too.
	os.WriteFile(ts.ctxFile, good, 0o600)
	os.RemoveAll(filepath.Join(ts.pinRoot, "a@1"))
	if err := ts.reopen(t, true).Restore(); err == nil || !strings.Contains(err.Error(), "restoring chain a") {
		t.Fatalf("missing pins: %v", err)
	}
}

func TestCrashDuringUpdate(t *testing.T) {
	points := []string{"pending-saved", "loaded", "attached", "replaced", "pinned", "committed",
		// Inside the journal appends (persist_journal.go).
		"journal-torn-plan", "journal-plan", "journal-torn-commit", "journal-commit"}
	ops := map[string]struct {
		setup, next string
		update      bool
		ruleset     bool
	}{
		"ruleset set renames": {"chain a BF_HOOK_XDP{ifindex=2} ACCEPT",
			"chain b BF_HOOK_XDP{ifindex=2} DROP rule ip4.proto icmp counter ACCEPT", false, true},
		"chain update": {"chain a BF_HOOK_XDP{ifindex=2} ACCEPT rule ip4.proto icmp counter DROP",
			"chain a BF_HOOK_XDP ACCEPT rule ip4.proto udp counter DROP", true, false},
		"chain set same hook": {"chain a BF_HOOK_XDP{ifindex=2} ACCEPT",
			"chain a BF_HOOK_XDP{ifindex=2} DROP", false, false},
		"chain set moves": {"chain a BF_HOOK_XDP{ifindex=2} ACCEPT",
			"chain a BF_HOOK_XDP{ifindex=3} DROP", false, false},
	}
	for opName, op := range ops {
		for _, point := range points {
			t.Run(opName+"/"+point, func(t *testing.T) {
				ts := newTestState(t, true)
				old := parseChain(t, op.setup)
				if err := ts.ChainSet("cli", old, ts.peer, false); err != nil {
					t.Fatal(err)
				}
				ts.chains["a"].prog.(*fakeProg).hit(-1, 1)
				next := parseChain(t, op.next)
				died := runUntilCrash(t, ts.State, point, func() error {
					if op.ruleset {
						return ts.RulesetSet("cli", &ir.Ruleset{Chains: []*ir.Chain{next}}, ts.peer, false)
					}
					if op.update {
						return ts.ChainUpdate("cli", next, ts.peer, false)
					}
					return ts.ChainSet("cli", next, ts.peer, false)
				})
				if !died {
					t.Fatalf("never reached %s", point)
				}
				st := ts.restartAfterCrash(t)
				all, err := st.RulesetGet("cli", false)
				if err != nil || len(all) != 1 {
					t.Fatalf("%d chains after restart (%v), want 1", len(all), err)
				}
				got := all[0]
				var inForce []*ir.Chain
				for _, key := range []string{"BF_HOOK_XDP{ifindex=2}", "BF_HOOK_XDP{ifindex=3}"} {
					if c := ts.k.inForce(key); c != nil {
						inForce = append(inForce, c)
					}
				}
				if len(inForce) != 1 {
					t.Fatalf("%d chains in force after restart, want exactly 1", len(inForce))
				}
				if !sameRules(inForce[0], got.Chain) {
					t.Fatalf("the daemon thinks %v is in force, the kernel runs %v", got.Chain.Policy, inForce[0].Policy)
				}
				if !sameRules(got.Chain, old) && !sameRules(got.Chain, next) {
					t.Fatal("in force is neither the old nor the new chain")
				}
				if len(ts.k.progs) != 1 {
					t.Fatalf("%d programs remain loaded, want 1", len(ts.k.progs))
				}
				des, _ := os.ReadDir(ts.pinRoot)
				if len(des) != 1 {
					t.Fatalf("%d pin directories remain, want 1", len(des))
				}
			})
		}
	}
}
