package daemon

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/bpfilter-go/bpfilter/backend"
	"github.com/bpfilter-go/bpfilter/engine"
	"github.com/bpfilter-go/bpfilter/internal/testenv"
	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/bpfilter-go/bpfilter/optimizer/rulegen"
)

// engineState is a standard-mode State running chains with the real engine,
// pinned in a private bpffs (chains are loaded, not attached: nothing
// touches the host's network).
type engineState struct {
	*State
	dir, bpffs string
}

func newEngineState(tb testing.TB) *engineState {
	tb.Helper()
	testenv.RequireBPF(tb)
	es := &engineState{dir: tb.TempDir(), bpffs: testenv.NewBPFFS(tb)}
	es.State = es.reopen()
	tb.Cleanup(func() {
		if err := es.Shutdown(true); err != nil {
			tb.Errorf("shutdown: %v", err)
		}
	})
	return es
}

// reopen returns a new State over the same runtime dir and bpffs (a
// restarted daemon).
func (es *engineState) reopen() *State {
	pin := filepath.Join(es.bpffs, PinDirName)
	return NewState(StateConfig{
		Loader:     EngineLoader{Options: engine.Options{BPFFS: es.bpffs}},
		Namespaces: fakeNamespaces{}, PinRoot: pin, ContextFile: filepath.Join(es.dir, ContextFileName),
	})
}

// probeProbe is rulegen's probe as XDP test runs see it (ifindex 1).
func probeProbe() rulegen.Probe {
	p := rulegen.DefaultProbe()
	p.Ifindex = 1
	return p
}

// bigChain is a rulegen chain of n rules (the probe matches the middle
// one, DROP) named "big", followed by a rule dropping the sources of a
// named set "blk".
func bigChain(tb testing.TB, k rulegen.Kind, n int) *ir.Chain {
	tb.Helper()
	c, err := rulegen.Generate(rulegen.Config{Kind: k, Rules: n, Seed: 1, Place: rulegen.Middle, Probe: probeProbe(), Hook: ir.HookXDP})
	if err != nil {
		tb.Fatal(err)
	}
	tail := parseChain(tb, `chain big BF_HOOK_XDP ACCEPT
		set blk (ip4.saddr) in { 198.18.99.1 }
		rule (ip4.saddr) in blk counter DROP`)
	tail.Rules = append(c.Rules, tail.Rules...)
	return tail
}

// runProbe runs the probe through the chain's program n times.
func runProbe(tb testing.TB, s *State, name string, n int) {
	tb.Helper()
	ep := s.chains[name].prog.(*engineProgram)
	pkt := probeProbe().Packet(true).Data
	for range n {
		if _, _, err := ep.c.Collection().Programs[backend.ProgramName].Benchmark(pkt, 1, nil); err != nil {
			tb.Fatal(err)
		}
	}
}

// TestEngineInPlaceUpdate: with the real engine, a one-rule change, a rule
// insertion and an update-set of a 10,000-rule chain are written into the
// loaded program (same program, counters kept); a restart restores the
// chain (after the insertion, by reloading it from its IR with the
// counters read at the recorded slots).
func TestEngineInPlaceUpdate(t *testing.T) {
	es := newEngineState(t)
	const n = 10000
	c := bigChain(t, rulegen.SourceAddrs, n)
	hit := rulegen.MatchIndex(n, rulegen.Middle)
	if err := es.ChainLoad("cli", c, nil, false); err != nil {
		t.Fatal(err)
	}
	runProbe(t, es.State, "big", 3)
	prog := es.chains["big"].prog
	count := func(s *State, i int) uint64 {
		t.Helper()
		cs, err := s.ChainGet("cli", "big", false)
		if err != nil {
			t.Fatal(err)
		}
		return cs.Counters.Rules[i].Packets
	}
	if got := count(es.State, hit); got != 3 {
		t.Fatalf("probe rule counted %d, want 3", got)
	}
	// Replace one rule far from the probe's.
	v1 := c.Clone()
	v1.Rules[10] = &ir.Rule{Matches: []ir.Match{{Field: ir.IP4Saddr, Op: ir.OpEq, Value: []byte{198, 19, 7, 7}}}, Verdict: ir.Verdict{Kind: ir.Drop}, Counter: true}
	if err := es.ChainUpdate("cli", v1, nil, false); err != nil {
		t.Fatal(err)
	}
	if es.chains["big"].prog != prog || count(es.State, hit) != 3 {
		t.Fatalf("one-rule update: same program %v, probe rule %d packets (want the same program, 3)", es.chains["big"].prog == prog, count(es.State, hit))
	}
	// Insert a rule at the top: the probe rule moves down one.
	v2 := v1.Clone()
	v2.Rules = slices.Insert(v2.Rules, 0, &ir.Rule{Matches: []ir.Match{{Field: ir.IP4Saddr, Op: ir.OpEq, Value: []byte{198, 19, 8, 8}}}, Verdict: ir.Verdict{Kind: ir.Drop}, Counter: true})
	if err := es.ChainUpdate("cli", v2, nil, false); err != nil {
		t.Fatal(err)
	}
	if es.chains["big"].prog != prog || count(es.State, hit+1) != 3 {
		t.Fatalf("insertion: same program %v, probe rule %d packets", es.chains["big"].prog == prog, count(es.State, hit+1))
	}
	if err := es.ChainUpdateSet("cli", "big", "blk", []string{"198.18.99.2"}, nil, nil, false); err != nil {
		t.Fatal(err)
	}
	if es.chains["big"].prog != prog {
		t.Fatal("update-set reloaded the chain")
	}
	runProbe(t, es.State, "big", 2)
	if got := count(es.State, hit+1); got != 5 {
		t.Fatalf("probe rule counted %d after updates, want 5", got)
	}
	// Restart: the pins were changed by an insertion, the engine refuses
	// them, the daemon reloads the chain from its IR with the counters.
	if es.chains["big"].Slots == nil {
		t.Fatal("in-place update recorded no counter slots")
	}
	if err := es.Shutdown(false); err != nil {
		t.Fatal(err)
	}
	st := es.reopen()
	if err := st.Restore(); err != nil {
		t.Fatal(err)
	}
	es.State = st
	if st.chains["big"].Slots != nil {
		t.Fatal("the marked chain was not reloaded on restore")
	}
	cs, err := st.ChainGet("cli", "big", false)
	if err != nil {
		t.Fatal(err)
	}
	if !sameRules(cs.Chain, v2) || len(cs.Chain.Set("blk").Elems) != 2 {
		t.Fatal("restored chain is not the updated one")
	}
	if got := cs.Counters.Rules[hit+1].Packets; got != 5 {
		t.Fatalf("probe rule counted %d after restart, want 5", got)
	}
	runProbe(t, st, "big", 1)
	if got := count(st, hit+1); got != 6 {
		t.Fatalf("probe rule counted %d after restart and one more probe, want 6", got)
	}
	// A second restart is a plain restore (the reload was saved).
	if err := st.Shutdown(false); err != nil {
		t.Fatal(err)
	}
	st = es.reopen()
	if err := st.Restore(); err != nil {
		t.Fatal(err)
	}
	es.State = st
	if got := count(st, hit+1); got != 6 {
		t.Fatalf("probe rule counted %d after a second restart, want 6", got)
	}
}

// TestEngineInterruptedReload: a daemon killed inside the reload of a chain
// changed in place, after the old pins were removed, leaves an empty pin
// directory; the next daemon loads the chain from its IR again.
func TestEngineInterruptedReload(t *testing.T) {
	es := newEngineState(t)
	c := bigChain(t, rulegen.SourceAddrs, 1000)
	if err := es.ChainLoad("cli", c, nil, false); err != nil {
		t.Fatal(err)
	}
	v2 := c.Clone()
	v2.Rules = slices.Insert(v2.Rules, 0, &ir.Rule{Matches: []ir.Match{{Field: ir.IP4Saddr, Op: ir.OpEq, Value: []byte{198, 19, 8, 8}}}, Verdict: ir.Verdict{Kind: ir.Drop}, Counter: true})
	prog := es.chains["big"].prog
	if err := es.ChainUpdate("cli", v2, nil, false); err != nil {
		t.Fatal(err)
	}
	if es.chains["big"].prog != prog {
		t.Fatal("insertion not done in place")
	}
	dir := es.pinDir(es.chains["big"])
	if err := es.Shutdown(false); err != nil {
		t.Fatal(err)
	}
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range des {
		if err := os.Remove(filepath.Join(dir, de.Name())); err != nil {
			t.Fatal(err)
		}
	}
	st := es.reopen()
	if err := st.Restore(); err != nil {
		t.Fatal(err)
	}
	es.State = st
	cs, err := st.ChainGet("cli", "big", false)
	if err != nil {
		t.Fatal(err)
	}
	if !sameRules(cs.Chain, v2) || st.chains["big"].Slots != nil {
		t.Fatal("the chain was not loaded again from its IR")
	}
	runProbe(t, st, "big", 1)
	if cs, err = st.ChainGet("cli", "big", false); err != nil {
		t.Fatal(err)
	}
	if got := cs.Counters.Rules[rulegen.MatchIndex(1000, rulegen.Middle)+1].Packets; got != 1 {
		t.Fatalf("probe rule counted %d after one probe, want 1", got)
	}
}
