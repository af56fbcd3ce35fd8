package daemon

import (
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/bpfilter-go/bpfilter/internal/testenv"
)

const atRuleset = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n" +
	"-A OUTPUT -p udp -m udp --dport 9999 -m addrtype --dst-type LOCAL -j DROP\nCOMMIT\n"

// udpDropped reports whether a datagram from ns to dst:9999 is dropped on
// OUTPUT (the send fails with EPERM).
func udpDropped(t *testing.T, ns *testenv.Netns, dst string) bool {
	t.Helper()
	c, err := ns.DialUDP(netip.AddrPortFrom(netip.MustParseAddr(dst), 9999))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Write([]byte("addrtype"))
	return err != nil
}

// waitDropped polls until a datagram to dst is dropped, for at most 2 s.
func waitDropped(t *testing.T, ns *testenv.Netns, dst string) time.Duration {
	t.Helper()
	start := time.Now()
	for !udpDropped(t, ns, dst) {
		if time.Since(start) > 2*time.Second {
			t.Fatalf("datagrams to %s not dropped within 2s of the address being added", dst)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

// TestE2EAddrtype: an iptables OUTPUT rule with -m addrtype --dst-type
// LOCAL through the daemon; addresses added while the chain is in force,
// and while a standard-mode daemon is stopped, change the verdict (the
// latter once the daemon restores the chain).
func TestE2EAddrtype(t *testing.T) {
	e := newE2E(t)
	peer := testenv.NewNetns(t)
	v := testenv.NewVethPair(t, e.ns, peer, "198.18.0.1/24", "198.18.0.2/24")
	e.start()
	e.iptRestore(e.ns, atRuleset)
	if !udpDropped(t, e.ns, "198.18.0.1") {
		t.Error("datagram to a local address not dropped")
	}
	if udpDropped(t, e.ns, "198.18.0.50") || udpDropped(t, e.ns, "198.18.0.2") {
		t.Error("datagram to a remote address dropped")
	}
	e.ns.Exec(t, "ip", "addr", "add", "198.18.0.50/24", "dev", v.NameA)
	t.Logf("new local address dropped after %v", waitDropped(t, e.ns, "198.18.0.50"))
	if err := e.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("daemon stop: %v: %s", err, e.out)
	}
	// The chain stays in force without the daemon; its table does not
	// follow changes until the daemon is back.
	if !udpDropped(t, e.ns, "198.18.0.50") {
		t.Error("with the daemon stopped, the chain lost its table")
	}
	e.ns.Exec(t, "ip", "addr", "add", "198.18.0.60/24", "dev", v.NameA)
	time.Sleep(100 * time.Millisecond)
	if udpDropped(t, e.ns, "198.18.0.60") {
		t.Fatal("the table followed a change with the daemon stopped: this test cannot see the restore's dump")
	}
	e.start()
	t.Logf("address added while the daemon was stopped dropped %v after restart", waitDropped(t, e.ns, "198.18.0.60"))
	e.ns.Exec(t, "ip", "addr", "del", "198.18.0.50/24", "dev", v.NameA)
	start := time.Now()
	for udpDropped(t, e.ns, "198.18.0.50") {
		if time.Since(start) > 2*time.Second {
			t.Fatal("datagrams to a removed address still dropped after 2s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.iptRestore(e.ns, emptyRuleset)
	if udpDropped(t, e.ns, "198.18.0.1") {
		t.Error("datagram dropped after the rules were flushed")
	}
}
