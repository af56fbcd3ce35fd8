package e2e

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/bpfilter-go/bpfilter/bpf"
	"github.com/bpfilter-go/bpfilter/engine"
	"github.com/bpfilter-go/bpfilter/frontends/cli"
	"github.com/bpfilter-go/bpfilter/internal/testenv"
	"github.com/bpfilter-go/bpfilter/ir"
)

const (
	rulesetFile = "../testdata/e2e/one_chain_per_hook.bf"
	udpCount    = 5
	pingCount   = 3
)

// hookCases says, for each chain of the ruleset file, the namespace it
// is attached in and the traffic that checks it.
var hookCases = []struct {
	chain string
	ns    string // "client", "router" or "server"
	udp   []flow
	ping  []pingFlow
}{
	{"e2e_xdp", "server", []flow{{false, 7101, goSocket, false, 0}, {false, 7102, goSocket, true, 1}, {true, 7103, goSocket, false, 2}, {true, 7102, goSocket, true, 1}}, nil},
	{"e2e_tc_in", "server", []flow{{false, 7201, goSocket, false, 0}, {false, 7202, goSocket, true, 1}, {true, 7203, goSocket, false, 2}}, nil},
	{"e2e_tc_out", "client", []flow{{false, 7301, goSocket, false, 0}, {false, 7302, goSocket, true, 1}, {true, 7303, goSocket, false, 2}}, nil},
	{"e2e_nf_pre", "router", []flow{{false, 7401, goSocket, false, 0}, {false, 7402, goSocket, true, 1}, {true, 7403, goSocket, false, 2}, {true, 7402, goSocket, true, 1}}, nil},
	{"e2e_nf_in", "server", []flow{{false, 7501, goSocket, false, 0}, {false, 7502, goSocket, true, 1}, {true, 7503, goSocket, false, 2}}, nil},
	{"e2e_nf_fwd", "router", []flow{{false, 7601, goSocket, false, 0}, {false, 7602, goSocket, true, 1}, {true, 7603, goSocket, false, 2}}, nil},
	{"e2e_nf_out", "client", []flow{{false, 7701, goSocket, false, 0}, {false, 7702, goSocket, true, 1}, {true, 7703, goSocket, false, 2}}, nil},
	{"e2e_nf_post", "router", []flow{{false, 7801, goSocket, false, 0}, {false, 7802, goSocket, true, 1}, {true, 7803, goSocket, false, 2}}, nil},
	{"e2e_cg_in", "client", nil, []pingFlow{{false, true, false, 0}, {true, true, true, 1}}},
	{"e2e_cg_out", "client", []flow{{false, 7901, cgConnect, false, 0}, {false, 7902, cgConnect, true, 1}, {true, 7903, cgConnect, false, 2}}, nil},
	{"e2e_connect4", "client", []flow{{false, 8101, cgConnect, false, 0}, {false, 8102, cgConnect, true, 1}}, nil},
	{"e2e_connect6", "client", []flow{{true, 8203, cgConnect, false, 0}, {true, 8202, cgConnect, true, 1}}, nil},
	{"e2e_sendmsg4", "client", []flow{{false, 8301, cgSendto, false, 0}, {false, 8302, cgSendto, true, 1}}, nil},
	{"e2e_sendmsg6", "client", []flow{{true, 8403, cgSendto, false, 0}, {true, 8402, cgSendto, true, 1}}, nil},
}

// setup builds the topology and parses the ruleset for it.
func setup(t *testing.T) (*topo, *ir.Ruleset) {
	testenv.RequireBPF(t)
	testenv.RequireCommand(t, "ping")
	tp := &topo{Routed: testenv.NewRouted(t), cg: testenv.NewCgroup(t)}
	src, err := os.ReadFile(rulesetFile)
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{
		"CLIENT_IF":    tp.Left.NameA,
		"ROUTER_IN_IF": tp.Left.NameB,
		"SERVER_IF":    tp.Right.NameB,
		"CGROUP":       tp.cg,
	}
	text := os.Expand(string(src), func(k string) string {
		v, ok := vars[k]
		if !ok {
			t.Fatalf("%s uses unknown variable ${%s}", rulesetFile, k)
		}
		return v
	})
	rs, err := cli.Parse(filepath.Base(rulesetFile), []byte(text), ir.ParseEnv{})
	if err != nil {
		t.Fatalf("parse %s: %v", rulesetFile, err)
	}
	return tp, rs
}

func (tp *topo) netns(name string) *testenv.Netns {
	switch name {
	case "client":
		return tp.Client
	case "router":
		return tp.Router
	}
	return tp.Server
}

// TestOneChainPerHook loads and attaches each chain of the ruleset in its
// namespace, one at a time, sends real traffic, and checks that dropped
// flows are dropped, accepted flows arrive, every rule counter equals the
// packets sent, and that once the chain is closed the dropped flows pass.
func TestOneChainPerHook(t *testing.T) {
	tp, rs := setup(t)
	for _, hc := range hookCases {
		t.Run(hc.chain, func(t *testing.T) {
			c := rs.Chain(hc.chain)
			if c == nil {
				t.Fatalf("no chain %s in %s", hc.chain, rulesetFile)
			}
			testenv.RequireFeature(t, c.Hook.String(), bpf.HaveHook(c.Hook), errNotSupported)
			ns := tp.netns(hc.ns)
			var ch *engine.Chain
			if err := ns.Do(func() error {
				var err error
				ch, err = engine.LoadAndAttach(c, engine.Options{})
				return err
			}); err != nil {
				t.Fatal(err)
			}
			closed := false
			t.Cleanup(func() {
				if !closed {
					if err := ch.Close(); err != nil {
						t.Error(err)
					}
				}
			})
			if ch.Attachment() == nil {
				t.Fatalf("chain %s with hook options %s was not attached", c.Name, c.HookOpts)
			}

			want := make([]uint64, len(c.Rules))
			for _, f := range hc.udp {
				got := tp.sendUDP(t, f, udpCount)
				if f.pass && got != udpCount {
					t.Errorf("%+v: %d of %d datagrams arrived, want all", f, got, udpCount)
				}
				if !f.pass && got != 0 {
					t.Errorf("%+v: %d of %d datagrams arrived through a DROP rule", f, got, udpCount)
				}
				want[f.rule] += udpCount
			}
			for _, p := range hc.ping {
				got := tp.ping(t, p, pingCount)
				if p.pass && got != pingCount {
					t.Errorf("%+v: %d of %d pings answered, want all", p, got, pingCount)
				}
				if !p.pass && got != 0 {
					t.Errorf("%+v: %d of %d pings answered through a DROP rule", p, got, pingCount)
				}
				want[p.rule] += pingCount
			}
			cs, err := ch.Counters()
			if err != nil {
				t.Fatal(err)
			}
			for i, w := range want {
				if got := cs.Rules[i].Packets; got != w {
					t.Errorf("rule %d counted %d packets, sent %d", i, got, w)
				}
				// Socket-address hooks see no packet, so no bytes.
				if w > 0 && !c.Hook.IsSockAddr() && cs.Rules[i].Bytes == 0 {
					t.Errorf("rule %d counted %d packets and no bytes", i, cs.Rules[i].Packets)
				}
			}

			if err := ch.Close(); err != nil {
				t.Fatal(err)
			}
			closed = true
			for _, f := range hc.udp {
				if !f.pass {
					if got := tp.sendUDP(t, f, 1); got != 1 {
						t.Errorf("%+v: after Close the flow is still dropped", f)
					}
				}
			}
			for _, p := range hc.ping {
				if !p.pass {
					if got := tp.ping(t, p, 1); got != 1 {
						t.Errorf("%+v: after Close the pings are still dropped", p)
					}
				}
			}
		})
	}
}

// TestChainWithoutHookOptionsIsNotAttached loads the ruleset's chain that
// has no hook options: it is loaded, not attached, and its catch-all DROP
// rule never sees the traffic.
func TestChainWithoutHookOptionsIsNotAttached(t *testing.T) {
	tp, rs := setup(t)
	c := rs.Chain("e2e_unattached")
	if c == nil || !c.HookOpts.IsZero() {
		t.Fatalf("the ruleset needs chain e2e_unattached without hook options, got %+v", c)
	}
	var ch *engine.Chain
	if err := tp.Server.Do(func() error {
		var err error
		ch, err = engine.LoadAndAttach(c, engine.Options{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := ch.Close(); err != nil {
			t.Error(err)
		}
	}()
	if ch.Attachment() != nil {
		t.Fatal("chain without hook options was attached")
	}
	if got := tp.sendUDP(t, flow{port: 7001, pass: true}, udpCount); got != udpCount {
		t.Errorf("%d of %d datagrams arrived", got, udpCount)
	}
	cs, err := ch.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if cs.Rules[0].Packets != 0 || cs.Policy.Packets != 0 {
		t.Errorf("unattached chain counted packets: %+v", cs)
	}
}
