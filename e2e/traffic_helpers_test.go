package e2e

import (
	"errors"
	"net/netip"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/bpfilter-go/bpfilter/internal/testenv"
)

// sender says how a flow's datagrams leave the client.
type sender int

const (
	// goSocket: a connected Go socket opened in the client namespace.
	goSocket sender = iota
	// cgConnect: one helper process per datagram, cloned into the test
	// cgroup, connect() then write().
	cgConnect
	// cgSendto: like cgConnect with an unconnected socket and sendto().
	cgSendto
)

// flow is n UDP datagrams from the client to the server's port.
type flow struct {
	v6   bool
	port uint16
	via  sender
	// pass: the datagrams must reach the server; otherwise none may.
	pass bool
	// rule is the index of the rule that must count every datagram.
	rule int
}

// pingFlow is an ICMP echo exchange from the client (in the test cgroup
// when inCgroup) to the server.
type pingFlow struct {
	v6       bool
	inCgroup bool
	pass     bool
	rule     int
}

// topo is the e2e topology (see testdata/e2e/one_chain_per_hook.bf).
type topo struct {
	*testenv.Routed
	cg string
}

func (tp *topo) server(v6 bool) netip.Addr {
	if v6 {
		return tp.Right.Addr6B.Addr()
	}
	return tp.Right.AddrB.Addr()
}

// sendUDP sends n datagrams of f and returns how many the server got.
func (tp *topo) sendUDP(t *testing.T, f flow, n int) int {
	t.Helper()
	dst := netip.AddrPortFrom(tp.server(f.v6), f.port)
	srv, err := tp.Server.ListenUDP(netip.AddrPortFrom(netip.IPv6Unspecified(), f.port))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	switch f.via {
	case goSocket:
		cl, err := tp.Client.DialUDP(dst)
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		for i := 0; i < n; i++ {
			// A drop on the client's own way out fails the send with
			// EPERM; that is the expected outcome of such flows.
			if _, err := cl.Write([]byte("bpfilter e2e")); err != nil && f.pass {
				t.Fatalf("send to %s: %v", dst, err)
			}
		}
	case cgConnect, cgSendto:
		for i := 0; i < n; i++ {
			out, err := tp.Client.RunInCgroup(tp.cg, testenv.UDPSendCommand(dst, 1, f.via == cgConnect)...)
			if err != nil && f.pass {
				t.Fatalf("send to %s from the cgroup: %v: %s", dst, err, out)
			}
		}
	}
	got := 0
	buf := make([]byte, 64)
	for got < n {
		if err := srv.SetReadDeadline(time.Now().Add(500 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		if _, err := srv.Read(buf); err != nil {
			var te interface{ Timeout() bool }
			if errors.As(err, &te) && te.Timeout() {
				break
			}
			t.Fatal(err)
		}
		got++
	}
	return got
}

var receivedRE = regexp.MustCompile(`(\d+) received`)

// ping sends n echo requests and returns how many were answered.
func (tp *topo) ping(t *testing.T, p pingFlow, n int) int {
	t.Helper()
	args := []string{"ping", "-c", strconv.Itoa(n), "-i", "0.2", "-W", "1", tp.server(p.v6).String()}
	var out string
	if p.inCgroup {
		out, _ = tp.Client.RunInCgroup(tp.cg, args...)
	} else {
		out, _ = tp.Client.Run(args...)
	}
	m := receivedRE.FindStringSubmatch(out)
	if m == nil {
		// A send refused locally makes ping stop early without a summary
		// on some versions; nothing was answered then.
		return 0
	}
	got, err := strconv.Atoi(m[1])
	if err != nil {
		t.Fatal(err)
	}
	return got
}
