package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bpfilter-go/bpfilter/compat/iptables"
	"github.com/bpfilter-go/bpfilter/daemon/client"
	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
	"github.com/bpfilter-go/bpfilter/internal/testenv"
)

// ip6tRestoreHelper is iptRestoreHelper for ip6tables.
const ip6tRestoreHelper = "ip6t-restore"

func init() {
	testenv.RegisterHelper(ip6tRestoreHelper, func(args []string) error {
		if len(args) != 2 {
			return fmt.Errorf("usage: %s <runtime dir> <restore file>", ip6tRestoreHelper)
		}
		f, err := os.Open(args[1])
		if err != nil {
			return err
		}
		defer f.Close()
		c, err := client.Dial(args[0])
		if err != nil {
			return err
		}
		defer c.Close()
		conn := &iptables.DaemonConn{C: c, Fam: abi.IPv6}
		ts := iptables.DaemonTables(conn)
		if code := iptables.RestoreMain(ts, nil, f, os.Stdout, os.Stderr); code != iptables.ExitOK {
			return fmt.Errorf("ip6tables-restore exited %d", code)
		}
		return ts.CommitDaemon(conn, false)
	})
}

// ip6tRestore applies an ip6tables-restore text to e's daemon from ns.
func (e *e2eEnv) ip6tRestore(ns *testenv.Netns, text string) {
	e.t.Helper()
	p := filepath.Join(e.t.TempDir(), "rules.v6")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		e.t.Fatal(err)
	}
	if out, err := ns.Run("env", testenv.HelperEnv(ip6tRestoreHelper), os.Args[0], e.run, p); err != nil {
		e.t.Fatalf("ip6tables-restore: %v: %s", err, out)
	}
}

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
