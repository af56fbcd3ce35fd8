package engine_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/bpfilter-go/bpfilter/engine"
	"github.com/bpfilter-go/bpfilter/frontends/cli"
	"github.com/bpfilter-go/bpfilter/internal/testenv"
	"github.com/bpfilter-go/bpfilter/ir"
)

// parseChain parses one bfcli chain.
func parseChain(t *testing.T, src string) *ir.Chain {
	t.Helper()
	rs, err := cli.Parse("test.bf", []byte(src), ir.ParseEnv{})
	if err != nil {
		t.Fatalf("parse %q: %v", src, err)
	}
	if len(rs.Chains) != 1 {
		t.Fatalf("%d chains in %q", len(rs.Chains), src)
	}
	return rs.Chains[0]
}

// pair is two namespaces joined by a veth pair: a (198.18.0.1) sends, b
// (198.18.0.2) hosts the chains.
type pair struct {
	a, b *testenv.Netns
	veth *testenv.Veth
}

func newPair(t *testing.T) *pair {
	testenv.RequireBPF(t)
	testenv.RequireCommand(t, "ping")
	a, b := testenv.NewNetns(t), testenv.NewNetns(t)
	return &pair{a: a, b: b, veth: testenv.NewVethPair(t, a, b, "198.18.0.1/24", "198.18.0.2/24")}
}

// ping sends n echo requests from a to b and returns how many were
// answered.
func (p *pair) ping(t *testing.T, n int, v6 bool) int {
	t.Helper()
	dst := p.veth.AddrB.Addr()
	if v6 {
		dst = p.veth.Addr6B.Addr()
	}
	out, _ := p.a.Run("ping", "-c", itoa(n), "-i", "0.2", "-W", "1", dst.String())
	return received(t, out)
}

// udp sends n datagrams from a to b:port and returns how many arrived.
func (p *pair) udp(t *testing.T, n int, port uint16) int {
	t.Helper()
	dst := netip.AddrPortFrom(p.veth.AddrB.Addr(), port)
	srv, err := p.b.ListenUDP(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	cl, err := p.a.DialUDP(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := 0; i < n; i++ {
		if _, err := cl.Write([]byte("engine test")); err != nil {
			t.Fatal(err)
		}
	}
	got := 0
	buf := make([]byte, 64)
	for got < n {
		if err := srv.SetReadDeadline(time.Now().Add(300 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		if _, err := srv.Read(buf); err != nil {
			break
		}
		got++
	}
	return got
}

func counters(t *testing.T, c *engine.Chain) engine.Counters {
	t.Helper()
	cs, err := c.Counters()
	if err != nil {
		t.Fatal(err)
	}
	return cs
}
