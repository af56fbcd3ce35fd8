package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/bpfilter-go/bpfilter/daemon/proto"
	"github.com/bpfilter-go/bpfilter/frontends/cli"
	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
	"github.com/bpfilter-go/bpfilter/ir"
)

func parseRS(t testing.TB, text string) *ir.Ruleset {
	t.Helper()
	rs, err := cli.Parse("test.bf", []byte(text), ir.ParseEnv{})
	if err != nil {
		t.Fatalf("parse %q: %v", text, err)
	}
	return rs
}

func parseChain(t testing.TB, text string) *ir.Chain {
	t.Helper()
	rs := parseRS(t, text)
	if len(rs.Chains) != 1 {
		t.Fatalf("want one chain in %q", text)
	}
	return rs.Chains[0]
}

type testState struct {
	*State
	k    *fakeKernel
	peer *fakePeer
	dir  string
}

// newTestState returns a State over a fake kernel; persistent selects
// standard mode (pins and context under a temp dir).
func newTestState(t testing.TB, persistent bool) *testState {
	t.Helper()
	dir := t.TempDir()
	cg := filepath.Join(dir, "cgroot", "sys/fs/cgroup/test")
	if err := os.MkdirAll(cg, 0o755); err != nil {
		t.Fatal(err)
	}
	k := newFakeKernel()
	ts := &testState{k: k, dir: dir,
		peer: &fakePeer{k: k, netns: 7, ifaces: map[string]uint32{"lo": 1, "veth0": 2, "veth1": 3}, root: filepath.Join(dir, "cgroot")}}
	ts.State = ts.reopen(t, persistent)
	return ts
}

func (ts *testState) reopen(t testing.TB, persistent bool) *State {
	cfg := StateConfig{Loader: ts.k, Namespaces: fakeNamespaces{}}
	if persistent {
		cfg.PinRoot = filepath.Join(ts.dir, "bpffs", "bpfilter")
		cfg.ContextFile = filepath.Join(ts.dir, "run", ContextFileName)
		os.MkdirAll(cfg.PinRoot, 0o700)
		os.MkdirAll(filepath.Dir(cfg.ContextFile), 0o700)
	}
	return NewState(cfg)
}

// restartAfterCrash is a daemon restart after a kill -9 in standard mode:
// the fake kernel frees what only the dead process held, a new State
// restores from the saved context and pins, then objects that neither a
// pin nor the new State holds are freed.
func (ts *testState) restartAfterCrash(t *testing.T) *State {
	t.Helper()
	ts.k.die(ts.pinRoot)
	st := ts.reopen(t, true)
	if err := st.Restore(); err != nil {
		t.Fatal(err)
	}
	var held []*fakeProg
	for _, e := range st.chains {
		held = append(held, e.prog.(*fakeProg))
	}
	ts.k.gc(ts.pinRoot, held)
	return st
}

func (ts *testState) names(t *testing.T) []string {
	t.Helper()
	cs, err := ts.RulesetGet("cli", false)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range cs {
		out = append(out, c.Chain.Name)
	}
	return out
}

func wantErrno(t *testing.T, err error, errno string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %s", errno)
	}
	if got := Errno(err); got != errno {
		t.Fatalf("error %q has class %s, want %s", err, got, errno)
	}
}

func TestChainSetGetFlush(t *testing.T) {
	ts := newTestState(t, false)
	c := parseChain(t, "chain a BF_HOOK_XDP{iface=veth0} ACCEPT rule ip4.proto icmp counter DROP")
	if err := ts.ChainSet("cli", c, ts.peer, false); err != nil {
		t.Fatal(err)
	}
	got, err := ts.ChainGet("cli", "a", false)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Attached || got.Chain.HookOpts.Ifindex != 2 || got.Chain.HookOpts.Iface != "" {
		t.Fatalf("chain not attached on ifindex 2 as resolved from veth0: %+v", got)
	}
	if ts.k.inForce("BF_HOOK_XDP{ifindex=2}") == nil {
		t.Fatal("nothing attached on the fake kernel")
	}
	if _, err := ts.ChainGet("iptables", "a", false); Errno(err) != proto.EPERM {
		t.Fatalf("another front reads the chain: %v", err)
	}
	if err := ts.ChainFlush("cli", "a"); err != nil {
		t.Fatal(err)
	}
	if ts.k.inForce("BF_HOOK_XDP{ifindex=2}") != nil || len(ts.k.progs) != 0 {
		t.Fatal("flush left objects behind")
	}
	_, err = ts.ChainGet("cli", "a", false)
	wantErrno(t, err, proto.ENOENT)
}

func TestDryRunChangesNothing(t *testing.T) {
	ts := newTestState(t, false)
	c := parseChain(t, "chain a BF_HOOK_XDP{ifindex=2} ACCEPT")
	if err := ts.ChainSet("cli", c, ts.peer, true); err != nil {
		t.Fatal(err)
	}
	if len(ts.names(t)) != 0 || ts.k.loads != 0 {
		t.Fatal("dry run loaded something")
	}
	bad := parseChain(t, "chain a BF_HOOK_XDP{ifindex=9} ACCEPT")
	wantErrno(t, ts.ChainSet("cli", bad, ts.peer, true), proto.ENOENT)
}

func TestDuplicateAttachIsEEXIST(t *testing.T) {
	cases := []struct {
		name, first, second string
		errno               string
	}{
		{"xdp same iface", "chain a BF_HOOK_XDP{ifindex=2} ACCEPT", "chain b BF_HOOK_XDP{iface=veth0} ACCEPT", proto.EEXIST},
		{"xdp other iface", "chain a BF_HOOK_XDP{ifindex=2} ACCEPT", "chain b BF_HOOK_XDP{ifindex=3} ACCEPT", ""},
		{"tc same iface stacks", "chain a BF_HOOK_TC_INGRESS{ifindex=2} ACCEPT", "chain b BF_HOOK_TC_INGRESS{ifindex=2} ACCEPT", ""},
		{"tc other direction", "chain a BF_HOOK_TC_INGRESS{ifindex=2} ACCEPT", "chain b BF_HOOK_TC_EGRESS{ifindex=2} ACCEPT", ""},
		{"nf same priority", "chain a BF_HOOK_NF_LOCAL_IN{priorities=101-102} ACCEPT", "chain b BF_HOOK_NF_LOCAL_IN{priorities=102-103} ACCEPT", proto.EEXIST},
		{"nf other priorities", "chain a BF_HOOK_NF_LOCAL_IN{priorities=101-102} ACCEPT", "chain b BF_HOOK_NF_LOCAL_IN{priorities=103-104} ACCEPT", ""},
		{"nf other hook", "chain a BF_HOOK_NF_LOCAL_IN{priorities=101-102} ACCEPT", "chain b BF_HOOK_NF_LOCAL_OUT{priorities=101-102} ACCEPT", ""},
		{"cgroup same path stacks", "chain a BF_HOOK_CGROUP_SKB_INGRESS{cgpath=/sys/fs/cgroup/test} ACCEPT", "chain b BF_HOOK_CGROUP_SKB_INGRESS{cgpath=/sys/fs/cgroup/test/} ACCEPT", ""},
		{"cgroup other hook", "chain a BF_HOOK_CGROUP_SKB_INGRESS{cgpath=/sys/fs/cgroup/test} ACCEPT", "chain b BF_HOOK_CGROUP_SKB_EGRESS{cgpath=/sys/fs/cgroup/test} ACCEPT", ""},
		{"unattached", "chain a BF_HOOK_XDP ACCEPT", "chain b BF_HOOK_XDP ACCEPT", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestState(t, false)
			if err := ts.ChainSet("cli", parseChain(t, tc.first), ts.peer, false); err != nil {
				t.Fatal(err)
			}
			err := ts.ChainSet("cli", parseChain(t, tc.second), ts.peer, false)
			if tc.errno == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantErrno(t, err, tc.errno)
			if got := ts.names(t); !reflect.DeepEqual(got, []string{"a"}) {
				t.Fatalf("chains after refusal: %v", got)
			}
			// The same chain in another network namespace is fine.
			other := *ts.peer
			other.netns = 8
			if err := ts.ChainSet("cli", parseChain(t, tc.second), &other, false); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestRulesetSetIsAtomic(t *testing.T) {
	ts := newTestState(t, false)
	old := "chain a BF_HOOK_XDP{ifindex=2} DROP chain b BF_HOOK_TC_INGRESS{ifindex=2} DROP"
	if err := ts.RulesetSet("cli", parseRS(t, old), ts.peer, false); err != nil {
		t.Fatal(err)
	}
	oldA, oldB := ts.k.inForce("BF_HOOK_XDP{ifindex=2}"), ts.k.inForce("BF_HOOK_TC_INGRESS{ifindex=2}")
	next := "chain a BF_HOOK_XDP{ifindex=2} ACCEPT chain b BF_HOOK_TC_INGRESS{ifindex=2} ACCEPT chain c BF_HOOK_XDP{ifindex=3} ACCEPT"
	for _, fail := range []string{"load a", "load c", "attach c", "replace a", "replace b"} {
		t.Run(fail, func(t *testing.T) {
			what, name, _ := strings.Cut(fail, " ")
			m := map[string]map[string]error{"load": ts.k.failLoad, "attach": ts.k.failAttach, "replace": ts.k.failReplace}[what]
			m[name] = errors.New("injected failure")
			defer delete(m, name)
			if err := ts.RulesetSet("cli", parseRS(t, next), ts.peer, false); err == nil || !strings.Contains(err.Error(), "injected") {
				t.Fatalf("want the injected failure, got %v", err)
			}
			if !sameRules(ts.k.inForce("BF_HOOK_XDP{ifindex=2}"), oldA) || !sameRules(ts.k.inForce("BF_HOOK_TC_INGRESS{ifindex=2}"), oldB) {
				t.Fatal("old ruleset no longer in force")
			}
			if ts.k.inForce("BF_HOOK_XDP{ifindex=3}") != nil {
				t.Fatal("new chain c left attached")
			}
			if len(ts.k.progs) != 2 {
				t.Fatalf("%d programs loaded, want the 2 old ones", len(ts.k.progs))
			}
			if got := ts.names(t); !reflect.DeepEqual(got, []string{"a", "b"}) {
				t.Fatalf("chains: %v", got)
			}
		})
	}
	if err := ts.RulesetSet("cli", parseRS(t, next), ts.peer, false); err != nil {
		t.Fatal(err)
	}
	if c := ts.k.inForce("BF_HOOK_XDP{ifindex=2}"); c == nil || c.Policy.Kind != ir.Accept {
		t.Fatal("new chain a not in force")
	}
	if err := ts.RulesetSet("cli", parseRS(t, "chain z BF_HOOK_XDP ACCEPT"), ts.peer, false); err != nil {
		t.Fatal(err)
	}
	if got := ts.names(t); !reflect.DeepEqual(got, []string{"z"}) || len(ts.k.attached) != 0 {
		t.Fatalf("ruleset set did not replace everything: %v, %d attached", got, len(ts.k.attached))
	}
}

func TestCountersSurviveUpdate(t *testing.T) {
	ts := newTestState(t, false)
	c := parseChain(t, `chain a BF_HOOK_XDP{ifindex=2} ACCEPT
		set s (ip4.saddr) in { 198.18.0.1 }
		rule ip4.proto icmp counter DROP
		rule (ip4.saddr) in s counter DROP
		rule udp.dport 53 counter ACCEPT`)
	if err := ts.ChainSet("cli", c, ts.peer, false); err != nil {
		t.Fatal(err)
	}
	p := ts.chains["a"].prog.(*fakeProg)
	p.hit(0, 10)
	p.hit(1, 20)
	p.hit(2, 30)
	p.hit(-1, 5)
	// Insert a rule at the top and change the last: rule 0 and 1 move.
	up := parseChain(t, `chain a BF_HOOK_XDP ACCEPT
		set s (ip4.saddr) in { 198.18.0.1 }
		rule tcp.dport 22 counter ACCEPT
		rule ip4.proto icmp counter DROP
		rule (ip4.saddr) in s counter DROP
		rule udp.dport 54 counter ACCEPT`)
	if err := ts.ChainUpdate("cli", up, ts.peer, false); err != nil {
		t.Fatal(err)
	}
	got, err := ts.ChainGet("cli", "a", false)
	if err != nil {
		t.Fatal(err)
	}
	want := []uint64{0, 10, 20, 0}
	for i, w := range want {
		if got.Counters.Rules[i].Packets != w {
			t.Fatalf("rule %d: %d packets, want %d (%+v)", i, got.Counters.Rules[i].Packets, w, got.Counters)
		}
	}
	if got.Counters.Policy.Packets != 5 || got.Chain.HookOpts.Ifindex != 2 || !got.Attached {
		t.Fatalf("policy counter or attachment lost: %+v", got)
	}
	// The new program counts on top of the carried values.
	ts.chains["a"].prog.(*fakeProg).hit(1, 1)
	if err := ts.ChainUpdateSet("cli", "a", "s", []string{"198.18.0.2"}, []string{"198.18.0.1"}, ts.peer, false); err != nil {
		t.Fatal(err)
	}
	got, _ = ts.ChainGet("cli", "a", false)
	if got.Counters.Rules[1].Packets != 11 || got.Counters.Rules[2].Packets != 20 {
		t.Fatalf("update-set lost counters: %+v", got.Counters)
	}
	if el := got.Chain.Set("s").Elems; len(el) != 1 || ir.KindIPv4.Format(el[0].Key, nil) != "198.18.0.2" {
		t.Fatalf("set content after update-set: %+v", el)
	}
	wantErrno(t, ts.ChainUpdateSet("cli", "a", "s", nil, []string{"198.18.0.9"}, ts.peer, false), proto.ENOENT)
	wantErrno(t, ts.ChainUpdateSet("cli", "a", "nope", []string{"198.18.0.9"}, nil, ts.peer, false), proto.ENOENT)
	wantErrno(t, ts.ChainUpdateSet("cli", "a", "s", []string{"not-an-ip"}, nil, ts.peer, false), proto.EINVAL)
	wantErrno(t, ts.ChainUpdate("cli", parseChain(t, "chain nope BF_HOOK_XDP ACCEPT"), ts.peer, false), proto.ENOENT)
	wantErrno(t, ts.ChainUpdate("cli", parseChain(t, "chain a BF_HOOK_TC_INGRESS ACCEPT"), ts.peer, false), proto.EINVAL)
}

func TestChainLoadAttach(t *testing.T) {
	ts := newTestState(t, false)
	c := parseChain(t, "chain a BF_HOOK_TC_EGRESS{ifindex=2} ACCEPT rule ip4.proto icmp counter DROP")
	if err := ts.ChainLoad("cli", c, ts.peer, false); err != nil {
		t.Fatal(err)
	}
	if len(ts.k.attached) != 0 {
		t.Fatal("chain load attached the chain")
	}
	wantErrno(t, ts.ChainLoad("cli", c, ts.peer, false), proto.EEXIST)
	ts.chains["a"].prog.(*fakeProg).hit(0, 3)
	var o ir.HookOpts
	if err := proto.ParseHookOption("ifindex=veth1", &o, nil); err != nil {
		t.Fatal(err)
	}
	if err := ts.ChainAttach("cli", "a", o, ts.peer); err != nil {
		t.Fatal(err)
	}
	if ts.k.inForce("BF_HOOK_TC_EGRESS{ifindex=3}") == nil {
		t.Fatal("not attached on ifindex 3")
	}
	got, _ := ts.ChainGet("cli", "a", false)
	if got.Counters.Rules[0].Packets != 3 {
		t.Fatalf("attach lost counters: %+v", got.Counters)
	}
	wantErrno(t, ts.ChainAttach("cli", "a", o, ts.peer), proto.EEXIST)
}

func TestFrontOwnership(t *testing.T) {
	ts := newTestState(t, false)
	if err := ts.ChainSet("iptables", parseChain(t, "chain INPUT BF_HOOK_NF_LOCAL_IN{priorities=1-2} ACCEPT"), ts.peer, false); err != nil {
		t.Fatal(err)
	}
	wantErrno(t, ts.ChainSet("cli", parseChain(t, "chain INPUT BF_HOOK_XDP ACCEPT"), ts.peer, false), proto.EPERM)
	wantErrno(t, ts.ChainFlush("cli", "INPUT"), proto.EPERM)
	if err := ts.RulesetFlush("cli"); err != nil {
		t.Fatal(err)
	}
	if err := ts.RulesetSet("cli", parseRS(t, "chain x BF_HOOK_XDP ACCEPT"), ts.peer, false); err != nil {
		t.Fatal(err)
	}
	cs, _ := ts.RulesetGet("iptables", false)
	if len(cs) != 1 || len(ts.k.attached) != 1 {
		t.Fatal("cli ruleset operations touched the iptables chain")
	}
}

func TestConcurrentClients(t *testing.T) {
	ts := newTestState(t, true)
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("c%02d", i)
			c := parseChain(t, fmt.Sprintf("chain %s BF_HOOK_NF_LOCAL_IN{priorities=%d-%d} ACCEPT", name, 2*i+1, 2*i+2))
			if err := ts.ChainSet("cli", c, ts.peer, false); err != nil {
				errs <- err
				return
			}
			up := parseChain(t, fmt.Sprintf("chain %s BF_HOOK_NF_LOCAL_IN DROP rule ip4.proto icmp counter ACCEPT", name))
			errs <- ts.ChainUpdate("cli", up, ts.peer, false)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	st := ts.reopen(t, true)
	if err := st.Restore(); err != nil {
		t.Fatal(err)
	}
	cs, _ := st.RulesetGet("cli", false)
	if len(cs) != n {
		t.Fatalf("%d chains after restore, want %d", len(cs), n)
	}
	for _, c := range cs {
		if c.Chain.Policy.Kind != ir.Drop || !c.Attached {
			t.Fatalf("chain %s lost its update or attachment", c.Chain.Name)
		}
	}
}

func TestIptablesPassThrough(t *testing.T) {
	ts := newTestState(t, true)
	if err := ts.ensureIptables(true, ts.peer); err != nil {
		t.Fatal(err)
	}
	cs, _ := ts.RulesetGet("iptables", false)
	if len(cs) != 6 || len(ts.k.attached) != 6 {
		t.Fatalf("%d iptables chains, %d attached", len(cs), len(ts.k.attached))
	}
	for _, c := range cs {
		// The empty filter table: ACCEPT policy, only the family guard.
		want := iptPriorities[abi.IPv4]
		if strings.HasPrefix(c.Chain.Name, "ip6tables.") {
			want = iptPriorities[abi.IPv6]
		}
		if c.Chain.Policy.Kind != ir.Accept || len(c.Chain.Rules) != 1 || c.Chain.HookOpts.Priorities != want {
			t.Fatalf("pass-through chain %+v", c.Chain)
		}
	}
	// Idempotent (a restart keeps them), and a cli chain cannot take their
	// priorities.
	if err := ts.ensureIptables(true, ts.peer); err != nil || ts.k.loads != 6 {
		t.Fatalf("second ensure: %v, %d loads", err, ts.k.loads)
	}
	wantErrno(t, ts.ChainSet("cli", parseChain(t, "chain x BF_HOOK_NF_LOCAL_IN{priorities=-1-5} ACCEPT"), ts.peer, false), proto.EEXIST)
	// The iptables front fills them with chain.update.
	if err := ts.ChainUpdate("iptables", parseChain(t, "chain iptables.INPUT BF_HOOK_NF_LOCAL_IN ACCEPT rule udp.dport 53 ACCEPT"), ts.peer, false); err != nil {
		t.Fatal(err)
	}
	if err := ts.ensureIptables(false, ts.peer); err != nil {
		t.Fatal(err)
	}
	if cs, _ := ts.RulesetGet("iptables", false); len(cs) != 0 || len(ts.k.attached) != 0 {
		t.Fatal("--no-iptables left pass-through chains")
	}
}

func TestRulesetSetRenameOnSameInterface(t *testing.T) {
	ts := newTestState(t, true)
	if err := ts.RulesetSet("cli", parseRS(t, "chain a BF_HOOK_XDP{ifindex=2} ACCEPT rule ip4.proto icmp counter DROP"), ts.peer, false); err != nil {
		t.Fatal(err)
	}
	// b lands where a was: one swap, no moment with two programs or none.
	if err := ts.RulesetSet("cli", parseRS(t, "chain b BF_HOOK_XDP{ifindex=2} DROP chain a BF_HOOK_XDP{ifindex=3} ACCEPT"), ts.peer, false); err != nil {
		t.Fatal(err)
	}
	if c := ts.k.inForce("BF_HOOK_XDP{ifindex=2}"); c == nil || c.Name != "b" {
		t.Fatalf("ifindex 2 runs %v", c)
	}
	if c := ts.k.inForce("BF_HOOK_XDP{ifindex=3}"); c == nil || c.Name != "a" {
		t.Fatalf("ifindex 3 runs %v", c)
	}
	st := ts.reopen(t, true)
	if err := ts.Shutdown(false); err != nil {
		t.Fatal(err)
	}
	if err := st.Restore(); err != nil {
		t.Fatal(err)
	}
	if got := len(st.chains); got != 2 {
		t.Fatalf("%d chains restored", got)
	}
	des, _ := os.ReadDir(ts.pinRoot)
	if len(des) != 2 {
		t.Fatalf("%d pin directories, want 2", len(des))
	}
}
