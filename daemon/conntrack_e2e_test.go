package daemon

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/bpfilter-go/bpfilter/compat/iptables"
	"github.com/bpfilter-go/bpfilter/compat/nfsemantics"
	"github.com/bpfilter-go/bpfilter/daemon/client"
	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
	"github.com/bpfilter-go/bpfilter/internal/testenv"
)

// iptRestoreHelper is a helper job (run inside a test namespace): it
// applies an iptables-restore (family 4) or ip6tables-restore (family 6)
// file to the daemon of a runtime directory, as bpfilter-iptables'
// restore commands do.
const iptRestoreHelper = "ipt-restore"

func init() {
	testenv.RegisterHelper(iptRestoreHelper, func(args []string) error {
		if len(args) != 3 || (args[0] != "4" && args[0] != "6") {
			return fmt.Errorf("usage: %s <4|6> <runtime dir> <restore file>", iptRestoreHelper)
		}
		fam := abi.IPv4
		if args[0] == "6" {
			fam = abi.IPv6
		}
		f, err := os.Open(args[2])
		if err != nil {
			return err
		}
		defer f.Close()
		c, err := client.Dial(args[1])
		if err != nil {
			return err
		}
		defer c.Close()
		conn := &iptables.DaemonConn{C: c, Fam: fam}
		ts := iptables.DaemonTables(conn)
		if code := iptables.RestoreMain(ts, nil, f, os.Stdout, os.Stderr); code != iptables.ExitOK {
			return fmt.Errorf("%s exited %d", restoreCommand(fam), code)
		}
		return ts.CommitDaemon(conn, false)
	})
}

// iptRestore applies an iptables-restore text to e's daemon from ns.
func (e *e2eEnv) iptRestore(ns *testenv.Netns, text string) { e.restore(ns, abi.IPv4, text) }

// ip6tRestore applies an ip6tables-restore text to e's daemon from ns.
func (e *e2eEnv) ip6tRestore(ns *testenv.Netns, text string) { e.restore(ns, abi.IPv6, text) }

// restore applies a restore text of family fam to e's daemon from ns.
func (e *e2eEnv) restore(ns *testenv.Netns, fam abi.Family, text string) {
	e.t.Helper()
	if out, err := e.tryRestore(ns, fam, text); err != nil {
		e.t.Fatalf("%s: %v: %s", restoreCommand(fam), err, out)
	}
}

// tryRestore is restore returning the failure and output instead of
// failing the test.
func (e *e2eEnv) tryRestore(ns *testenv.Netns, fam abi.Family, text string) (string, error) {
	e.t.Helper()
	p := filepath.Join(e.t.TempDir(), "rules")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		e.t.Fatal(err)
	}
	out, err := ns.Run("env", testenv.HelperEnv(iptRestoreHelper), os.Args[0], fmt.Sprint(int(fam)), e.run, p)
	return string(out), err
}

// restoreCommand is the restore command of fam, for messages.
func restoreCommand(fam abi.Family) string {
	if fam == abi.IPv6 {
		return "ip6tables-restore"
	}
	return "iptables-restore"
}

// hasKeeper reports whether ns holds the conntrack keeper table.
func hasKeeper(t *testing.T, ns *testenv.Netns) bool {
	t.Helper()
	f, err := os.Open(ns.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ok, err := nfsemantics.HasConntrackKeeper(int(f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

const (
	ctRuleset = "*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n" +
		"-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n" +
		"-A INPUT -p udp -m udp --dport 5001 -j ACCEPT\nCOMMIT\n"
	noCtRuleset = "*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n" +
		"-A INPUT -p udp -m udp --dport 5001 -j ACCEPT\nCOMMIT\n"
	emptyRuleset = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"
)

// udpExchange sends a datagram from a socket of from to an echo server in
// to (server address srv) and reports whether the echo came back.
func udpExchange(t *testing.T, from, to *testenv.Netns, srv netip.AddrPort) bool {
	t.Helper()
	sc, err := to.ListenUDP(srv)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 64)
		sc.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, peer, err := sc.ReadFromUDP(buf)
		if err == nil {
			_, err = sc.WriteToUDP(buf[:n], peer)
		}
		done <- err
	}()
	cc, err := from.DialUDP(srv)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	if _, err := cc.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("echo server (the request did not arrive?): %v", err)
	}
	cc.SetReadDeadline(time.Now().Add(time.Second))
	_, err = cc.Read(make([]byte, 64))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return true
}

// TestE2EConntrackKeeper: an iptables ruleset accepting ESTABLISHED
// traffic makes the daemon keep conntrack active in the namespace, so
// replies to connections the namespace initiated come back while
// unsolicited packets are dropped; the keeper table goes with the last
// ruleset needing it and with a transient daemon, and is never created
// for rulesets that do not read the conntrack state.
func TestE2EConntrackKeeper(t *testing.T) {
	e := newE2E(t, "--transient")
	peer := testenv.NewNetns(t)
	v := testenv.NewVethPair(t, e.ns, peer, "198.18.0.1/24", "198.18.0.2/24")
	e.start()
	local, remote := v.AddrA.Addr(), v.AddrB.Addr()
	if hasKeeper(t, e.ns) {
		t.Fatal("keeper table present before any ruleset")
	}

	e.iptRestore(e.ns, noCtRuleset)
	if hasKeeper(t, e.ns) {
		t.Error("keeper table created for a ruleset without conntrack matches")
	}
	if udpExchange(t, e.ns, peer, netip.AddrPortFrom(remote, 7000)) {
		t.Error("INPUT policy DROP without a conntrack rule let a reply in")
	}

	e.iptRestore(e.ns, ctRuleset)
	if !hasKeeper(t, e.ns) {
		t.Error("no keeper table with a ruleset matching --ctstate")
	}
	if !udpExchange(t, e.ns, peer, netip.AddrPortFrom(remote, 7000)) {
		t.Error("the reply to a flow the namespace initiated was dropped (ESTABLISHED not matched)")
	}
	if n := udpDelivered(t, peer, e.ns, "", netip.AddrPortFrom(local, 6000), 3); n != 0 {
		t.Errorf("%d unsolicited datagrams to port 6000 got in", n)
	}
	if n := udpDelivered(t, peer, e.ns, "", netip.AddrPortFrom(local, 5001), 3); n != 3 {
		t.Errorf("%d of 3 datagrams to the accepted port 5001 got in", n)
	}

	e.iptRestore(e.ns, emptyRuleset)
	if hasKeeper(t, e.ns) {
		t.Error("keeper table left after the conntrack rules were flushed")
	}

	e.iptRestore(e.ns, ctRuleset)
	if !hasKeeper(t, e.ns) {
		t.Fatal("no keeper table after re-applying the conntrack ruleset")
	}
	if err := e.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("daemon stop: %v: %s", err, e.out)
	}
	if hasKeeper(t, e.ns) {
		t.Error("keeper table left after a transient daemon stopped")
	}
}

// TestE2EConntrackKeeperRestart: a standard-mode daemon leaves the keeper
// table in place when it stops (its chains keep filtering, and need
// conntrack), and the next daemon installs it again when it is missing.
func TestE2EConntrackKeeperRestart(t *testing.T) {
	e := newE2E(t)
	peer := testenv.NewNetns(t)
	v := testenv.NewVethPair(t, e.ns, peer, "198.18.0.1/24", "198.18.0.2/24")
	srv := netip.AddrPortFrom(v.AddrB.Addr(), 7000)
	e.start()
	e.iptRestore(e.ns, ctRuleset)
	if !hasKeeper(t, e.ns) {
		t.Fatal("no keeper table with a ruleset matching --ctstate")
	}
	if err := e.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("daemon stop: %v: %s", err, e.out)
	}
	if !hasKeeper(t, e.ns) {
		t.Error("a standard-mode daemon removed the keeper table on stop")
	}
	if !udpExchange(t, e.ns, peer, srv) {
		t.Error("with the daemon stopped, the reply to a flow the namespace initiated was dropped")
	}
	f, err := os.Open(e.ns.Path)
	if err != nil {
		t.Fatal(err)
	}
	err = nfsemantics.RemoveConntrackKeeper(int(f.Fd()))
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	e.start()
	if !hasKeeper(t, e.ns) {
		t.Error("the restored daemon did not install the keeper table again")
	}
	if !udpExchange(t, e.ns, peer, srv) {
		t.Error("after restore, the reply to a flow the namespace initiated was dropped")
	}
	e.iptRestore(e.ns, emptyRuleset)
	if hasKeeper(t, e.ns) {
		t.Error("keeper table left after the conntrack rules were flushed")
	}
}
