package testenv

import (
	"testing"
)

// Routed is three namespaces in a line, Client — Router — Server, where
// Router forwards IPv4 and IPv6 between its two veth pairs:
//
//	Client 198.18.0.1/24 ── 198.18.0.2/24 Router 198.18.1.1/24 ── 198.18.1.2/24 Server
//
// plus the matching IPv6 ULAs (fd00:198:18:0::1/64 ...), with routes so
// Client and Server reach each other through Router.
type Routed struct {
	Client, Router, Server *Netns
	// Left joins Client (A) and Router (B); Right joins Router (A) and
	// Server (B).
	Left, Right *Veth
}

// NewRouted builds the Routed topology; everything is removed when the
// test ends.
func NewRouted(tb testing.TB) *Routed {
	tb.Helper()
	r := &Routed{Client: NewNetns(tb), Router: NewNetns(tb), Server: NewNetns(tb)}
	r.Left = NewVethPair(tb, r.Client, r.Router, "198.18.0.1/24", "198.18.0.2/24")
	r.Right = NewVethPair(tb, r.Router, r.Server, "198.18.1.1/24", "198.18.1.2/24")
	r.Router.Exec(tb, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")
	r.Client.Exec(tb, "ip", "route", "add", r.Right.AddrB.Masked().String(), "via", r.Left.AddrB.Addr().String())
	r.Client.Exec(tb, "ip", "-6", "route", "add", r.Right.Addr6B.Masked().String(), "via", r.Left.Addr6B.Addr().String())
	r.Server.Exec(tb, "ip", "route", "add", r.Left.AddrA.Masked().String(), "via", r.Right.AddrA.Addr().String())
	r.Server.Exec(tb, "ip", "-6", "route", "add", r.Left.Addr6A.Masked().String(), "via", r.Right.Addr6A.Addr().String())
	for _, dst := range []string{r.Right.AddrB.Addr().String(), r.Right.Addr6B.Addr().String()} {
		var err error
		for try := 0; try < 10; try++ {
			if _, err = r.Client.Run("ping", "-c", "1", "-W", "1", dst); err == nil {
				break
			}
		}
		if err != nil {
			tb.Fatalf("routed topology: server unreachable from client: %v", err)
		}
	}
	return r
}
