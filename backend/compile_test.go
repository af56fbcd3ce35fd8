package backend

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bpfilter-go/bpfilter/ir"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/backend")

// sampleChain exercises every kind of code the generator emits.
func sampleChain(tb testing.TB, h ir.Hook) *ir.Chain {
	tb.Helper()
	mark := uint32(7)
	c := &ir.Chain{Name: "sample", Hook: h, Policy: ir.Verdict{Kind: ir.Drop}, Rules: []*ir.Rule{
		{Matches: []ir.Match{eqMatch(tb, ir.IP4Snet, "198.18.0.0/15", false), eqMatch(tb, ir.TCPDport, "22", true)},
			Log: &ir.Log{Headers: ir.LogAll, Every: time.Second}, Verdict: ir.Verdict{Kind: ir.Accept}},
		{Matches: []ir.Match{eqMatch(tb, ir.IP6Daddr, "2001:db8::1", false)}, Verdict: ir.Verdict{Kind: ir.Continue}},
		{Matches: []ir.Match{{Op: ir.OpIn, Set: "nets"}}, Verdict: ir.Verdict{Kind: ir.Drop}},
	}, Sets: []*ir.Set{{Name: "nets", Key: []ir.Field{ir.IP4Dnet}, Elems: []ir.SetElem{{Key: []byte{198, 18, 0, 0}, PrefixLen: 16}}}}}
	if h.Flavour() == ir.FlavourTC {
		c.Rules[1].Mark = &mark
	}
	if h.SockAddrFamily() == 6 {
		c.Rules[0].Matches[0] = eqMatch(tb, ir.IP6Dnet, "2001:db8::/32", false)
		c.Sets[0].Key = []ir.Field{ir.IP6Dnet}
		c.Sets[0].Elems = []ir.SetElem{{Key: make([]byte, 16), PrefixLen: 8}}
	}
	if h.IsSendmsg() {
		c.Rules[0].Matches[1] = eqMatch(tb, ir.UDPDport, "53", true)
	}
	if h.IsSockAddr() {
		c.Rules[0].Log.Headers = ir.LogAll
		c.Rules[1].Matches[0] = eqMatch(tb, ir.MetaL4Proto, "17", false)
	}
	if h.SockAddrFamily() == 4 {
		c.Rules[0].Matches[0] = eqMatch(tb, ir.IP4Dnet, "198.18.0.0/15", false)
		c.Rules[0].Log.Headers = ir.LogAll
		c.Rules[1].Matches[0] = eqMatch(tb, ir.MetaL4Proto, "17", false)
	}
	return c
}

// TestCompileGolden compares the bytecode dump of sampleChain with the
// golden files (netfilter is left out: its offsets and kfunc id come from
// the running kernel's BTF). Run with -update to rewrite them.
func TestCompileGolden(t *testing.T) {
	for _, h := range []ir.Hook{ir.HookXDP, ir.HookTCIngress, ir.HookCgroupSkbEgress, ir.HookCgroupSockAddrConnect4} {
		t.Run(h.String(), func(t *testing.T) {
			var dump bytes.Buffer
			if _, err := Compile(sampleChain(t, h), Options{DumpBytecode: &dump}); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("..", "testdata", "backend", strings.ToLower(h.String())+".golden")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, dump.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read golden file (run with -update to create it): %v", err)
			}
			if !bytes.Equal(dump.Bytes(), want) {
				t.Errorf("bytecode of %s differs from %s (run with -update after checking the change)", h, path)
			}
			if !strings.Contains(dump.String(), "; rule 2: (ip4.dnet) in nets DROP") {
				t.Errorf("dump lacks the rule provenance comment")
			}
		})
	}
}

// TestCompileDeterministic compiles every hook twice and compares the
// printed instructions and the map specs.
func TestCompileDeterministic(t *testing.T) {
	for _, h := range ir.Hooks() {
		c := sampleChain(t, h)
		if h.IsSockAddr() {
			c.Rules[0].Matches = []ir.Match{eqMatch(t, ir.MetaDport, "53", false)}
			c.Rules[1].Matches = nil
			c.Sets[0].Key = []ir.Field{ir.MetaL4Proto}
			c.Sets[0].Elems = []ir.SetElem{{Key: []byte{17}}}
		}
		a, err := Compile(c, Options{})
		if err != nil {
			t.Fatalf("%s: %v", h, err)
		}
		b, err := Compile(c.Clone(), Options{})
		if err != nil {
			t.Fatalf("%s: %v", h, err)
		}
		pa, pb := a.Spec.Programs[ProgramName], b.Spec.Programs[ProgramName]
		if fmt.Sprint(pa.Instructions) != fmt.Sprint(pb.Instructions) {
			t.Errorf("%s: two compilations differ", h)
		}
		for name, ma := range a.Spec.Maps {
			mb := b.Spec.Maps[name]
			if mb == nil || fmt.Sprint(ma) != fmt.Sprint(mb) || fmt.Sprint(ma.Contents) != fmt.Sprint(mb.Contents) {
				t.Errorf("%s: map %s differs", h, name)
			}
		}
		if _, ok := a.Spec.Maps[CountersMap]; !ok {
			t.Errorf("%s: no %s map", h, CountersMap)
		}
		if got := a.Spec.Maps[CountersMap].MaxEntries; got != CounterEntries(len(c.Rules)) {
			t.Errorf("%s: counters map has %d entries, want %d", h, got, CounterEntries(len(c.Rules)))
		}
	}
}

// TestCompileRefuses checks that unsupported input is refused with an
// error naming the feature, and never panics.
func TestCompileRefuses(t *testing.T) {
	base := func() *ir.Chain {
		return &ir.Chain{Name: "c", Hook: ir.HookXDP, Policy: ir.Verdict{Kind: ir.Accept}}
	}
	wide := &ir.Set{Name: "wide"}
	for i := 0; i < 17; i++ {
		wide.Key = append(wide.Key, ir.IP6Saddr)
	}
	tests := []struct {
		name  string
		chain *ir.Chain
		want  string
	}{
		{"nil", nil, "nil chain"},
		{"jump", func() *ir.Chain {
			c := base()
			c.Rules = []*ir.Rule{{Verdict: ir.Verdict{Kind: ir.Jump, Chain: "u"}}}
			return c
		}(), "JUMP"},
		{"goto", func() *ir.Chain {
			c := base()
			c.Rules = []*ir.Rule{{Verdict: ir.Verdict{Kind: ir.Goto, Chain: "u"}}}
			return c
		}(), "GOTO"},
		{"return", func() *ir.Chain {
			c := base()
			c.Rules = []*ir.Rule{{Verdict: ir.Verdict{Kind: ir.Return}}}
			return c
		}(), "RETURN"},
		{"user chain", func() *ir.Chain { c := base(); c.User = true; return c }(), "user chains"},
		{"invalid field on hook", func() *ir.Chain {
			c := base()
			c.Rules = []*ir.Rule{{Matches: []ir.Match{{Field: ir.MetaMark, Value: make([]byte, 4)}}}}
			return c
		}(), "meta.mark is not supported by BF_HOOK_XDP"},
		{"nil rule", func() *ir.Chain { c := base(); c.Rules = []*ir.Rule{nil}; return c }(), "rule 0 is nil"},
		{"nil set", func() *ir.Chain { c := base(); c.Sets = []*ir.Set{nil}; return c }(), "set 0 is nil"},
		{"invalid hook", func() *ir.Chain { c := base(); c.Hook = 200; return c }(), "invalid hook 200"},
		{"wide set key", func() *ir.Chain { c := base(); c.Sets = []*ir.Set{wide}; return c }(), "key width 272"},
		{"bad value width", func() *ir.Chain {
			c := base()
			c.Rules = []*ir.Rule{{Matches: []ir.Match{{Field: ir.IP4Saddr, Value: []byte{1}}}}}
			return c
		}(), "wrong width"},
	}
	for _, tt := range tests {
		_, err := Compile(tt.chain, Options{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}

// TestSetKey checks the key encodings the engine uses to update sets.
func TestSetKey(t *testing.T) {
	lpm := &ir.Set{Key: []ir.Field{ir.IP4Snet}}
	got := SetKey(lpm, ir.SetElem{Key: []byte{198, 18, 255, 1}, PrefixLen: 15})
	want := []byte{15, 0, 0, 0, 198, 18, 0, 0}
	if !bytes.Equal(got, want) {
		t.Errorf("LPM key % x, want % x", got, want)
	}
	hash := &ir.Set{Key: []ir.Field{ir.TCPDport, ir.IP4Saddr}}
	if got := SetKey(hash, ir.SetElem{Key: []byte{0, 22, 1, 2, 3, 4}}); !bytes.Equal(got, []byte{0, 22, 1, 2, 3, 4}) {
		t.Errorf("hash key % x", got)
	}
}

// TestSampleChainsLoad loads sampleChain (log with rate limit, LPM set,
// IPv6 compare, mark) on every hook, sock_addr included.
func TestSampleChainsLoad(t *testing.T) {
	for _, h := range ir.Hooks() {
		compileAndLoad(t, sampleChain(t, h))
	}
}
