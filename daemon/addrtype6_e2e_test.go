package daemon

import (
	"testing"
	"time"

	"github.com/bpfilter-go/bpfilter/internal/testenv"
)

const at6Ruleset = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n" +
	"-A OUTPUT -p udp -m udp --dport 9999 -m addrtype --dst-type LOCAL -j DROP\n" +
	"-A OUTPUT -p udp -m udp --dport 9999 -m addrtype --dst-type ANYCAST -j DROP\nCOMMIT\n"

// TestE2EAddrtype6: an ip6tables OUTPUT rule with -m addrtype
// --dst-type LOCAL and ANYCAST through the daemon: the daemon fills the
// IPv6 map before the chain is in force, and an address added later
// changes the verdict.
func TestE2EAddrtype6(t *testing.T) {
	e := newE2E(t)
	peer := testenv.NewNetns(t)
	testenv.NewVethPair(t, e.ns, peer, "198.18.0.1/24", "198.18.0.2/24")
	e.ns.Exec(t, "ip", "-6", "route", "add", "local", "fd00:198:40::/64", "dev", "lo", "table", "local")
	e.start()
	e.ip6tRestore(e.ns, at6Ruleset)
	for _, c := range []struct {
		dst  string
		want bool
	}{
		{"fd00:198:18::1", true},  // own address
		{"fd00:198:40::9", true},  // local route
		{"fd00:198:18::", true},   // the link prefix's address: anycast
		{"fd00:198:18::2", false}, // the peer
		{"fd00:198:18::50", false},
	} {
		if got := udpDropped(t, e.ns, c.dst); got != c.want {
			t.Errorf("datagram to %s dropped=%v, want %v", c.dst, got, c.want)
		}
	}
	e.ns.Exec(t, "ip", "-6", "addr", "add", "fd00:198:18::50/128", "dev", "lo")
	start := time.Now()
	for !udpDropped(t, e.ns, "fd00:198:18::50") {
		if time.Since(start) > 2*time.Second {
			t.Fatal("datagrams to a new local IPv6 address not dropped within 2s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("new local IPv6 address dropped after %v", time.Since(start))
}
