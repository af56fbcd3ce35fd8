package daemon

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/bpfilter-go/bpfilter/daemon/client"
	"github.com/bpfilter-go/bpfilter/daemon/proto"
	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/bpfilter-go/bpfilter/optimizer/rulegen"
)

// hostPeer is a client in the daemon's own namespaces (benchmarks load
// chains without attaching them: nothing is done in the namespace).
type hostPeer struct{}

func (hostPeer) InNetns(fn func() error) error { return fn() }
func (hostPeer) NetnsID() uint64               { return 0 }
func (hostPeer) HostPath(p string) string      { return p }
func (hostPeer) LookupIface(string, uint32) (uint32, error) {
	return 0, errors.New("no interfaces in benchmarks")
}

// serveState serves s on a socket in a temporary directory and returns a
// connected client.
func serveState(tb testing.TB, s *State) *client.Client {
	tb.Helper()
	srv := NewServer(ServerConfig{State: s, Group: -1})
	srv.peer = func(int) (Peer, func(), error) { return hostPeer{}, func() {}, nil }
	dir := tb.TempDir()
	ln, err := srv.Listen(filepath.Join(dir, "daemon.sock"))
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	c, err := client.Dial(dir)
	if err != nil {
		cancel()
		tb.Fatal(err)
	}
	c.Timeout = time.Minute
	tb.Cleanup(func() {
		c.Close()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				tb.Errorf("serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			tb.Error("server did not stop")
		}
	})
	return c
}

// singleSourceRule returns the index of the first rule from i on that is
// one ip4.saddr equality (what a one-rule change rewrites).
func singleSourceRule(c *ir.Chain, i int) int {
	for ; i < len(c.Rules); i++ {
		r := c.Rules[i]
		if len(r.Matches) == 1 && r.Log == nil && !r.Matches[0].Negate && r.Matches[0].Op == ir.OpEq &&
			r.Matches[0].Field == ir.IP4Saddr && r.Matches[0].Mask == nil {
			return i
		}
	}
	return -1
}

// do sends req and fails on an error answer.
func do(tb testing.TB, c *client.Client, req *proto.Request) {
	r, err := c.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	if !r.OK {
		tb.Fatalf("%s: %s %s", req.Cmd, r.Errno, r.Error)
	}
}

// BenchmarkDaemonUpdate: client request → response latency of chain.update
// changing one rule of a loaded 10,000-rule chain (saddr: address rules;
// mix: rulegen's realistic mix), and of chain.update-set adding or removing
// one element, through the daemon's socket in standard mode (context saved
// and synced, objects pinned). "inplace" is the daemon's default path,
// "replace" forces a new program swapped in (the path before in-place
// updates); "inplace-transient" is the default path without persistence
// (transient mode: no context file, nothing pinned). rules-* are the
// same one-rule changes sent as chain.update-rules edits
// (rules_bench_test.go).
func BenchmarkDaemonUpdate(b *testing.B) {
	const n = 10000
	state := func(b *testing.B, mode string) *engineState {
		es := newEngineState(b)
		if mode == "inplace-transient" {
			es.State = NewState(StateConfig{Loader: EngineLoader{}, Namespaces: fakeNamespaces{}})
		}
		es.inPlaceOff = mode == "replace"
		return es
	}
	for _, k := range []rulegen.Kind{rulegen.SourceAddrs, rulegen.Mix} {
		kind := "saddr"
		if k == rulegen.Mix {
			kind = "mix"
		}
		for _, mode := range []string{"inplace", "replace", "inplace-transient"} {
			b.Run(fmt.Sprintf("rule/%s/%d/%s", kind, n, mode), func(b *testing.B) {
				es := state(b, mode)
				c := bigChain(b, k, n)
				at := singleSourceRule(c, n/2)
				if at < 0 {
					b.Fatal("no single source-address rule in the second half")
				}
				v1 := c.Clone()
				v1.Rules[at] = &ir.Rule{Matches: []ir.Match{{Field: ir.IP4Saddr, Op: ir.OpEq, Value: []byte{198, 19, 250, 1}}}, Verdict: ir.Verdict{Kind: ir.Drop}, Counter: true}
				if err := es.ChainLoad("cli", c, hostPeer{}, false); err != nil {
					b.Fatal(err)
				}
				cl := serveState(b, es.State)
				versions := []*ir.Chain{c, v1}
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					do(b, cl, &proto.Request{Front: "cli", Cmd: proto.CmdChainUpdate, Chain: versions[(i+1)%2]})
				}
			})
			// chain.update-rules (rules_bench_test.go).
			if mode != "replace" {
				benchRuleEdits(b, k, kind, n, mode, state)
			}
			if k == rulegen.Mix {
				continue
			}
			b.Run(fmt.Sprintf("set/%s/%d/%s", kind, n, mode), func(b *testing.B) {
				es := state(b, mode)
				if err := es.ChainLoad("cli", bigChain(b, k, n), hostPeer{}, false); err != nil {
					b.Fatal(err)
				}
				cl := serveState(b, es.State)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					req := &proto.Request{Front: "cli", Cmd: proto.CmdChainUpdSet, Name: "big", SetName: "blk"}
					if i%2 == 0 {
						req.Add = []string{"198.18.99.2"}
					} else {
						req.Remove = []string{"198.18.99.2"}
					}
					do(b, cl, req)
				}
			})
		}
	}
}
