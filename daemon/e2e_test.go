package daemon

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bpfilter-go/bpfilter/daemon/client"
	"github.com/bpfilter-go/bpfilter/daemon/proto"
	"github.com/bpfilter-go/bpfilter/internal/testenv"
)

// TestE2EHooksTransient: a transient daemon in its own network namespace
// loads chains on XDP, TC, netfilter and cgroup hooks for a client in
// another namespace (interface names resolve as the client sees them);
// real traffic over a veth pair is filtered and counted; when the daemon
// stops nothing is left attached or pinned.
func TestE2EHooksTransient(t *testing.T) {
	e := newE2E(t, "-t")
	a, b := testenv.NewNetns(t), testenv.NewNetns(t)
	v := testenv.NewVethPair(t, a, b, "198.18.20.1/24", "198.18.20.2/24")
	cg := testenv.NewCgroup(t)
	e.start()
	addrA, addrB := v.AddrA.Addr(), v.AddrB.Addr()
	rules := fmt.Sprintf(`
chain x BF_HOOK_XDP{iface=%s} ACCEPT
    rule ip4.proto icmp counter DROP
chain tc BF_HOOK_TC_INGRESS{iface=%s} ACCEPT
    rule udp.dport 5001 counter DROP
chain nf BF_HOOK_NF_LOCAL_IN{priorities=101-102} ACCEPT
    rule udp.dport 5002 counter DROP
chain cg BF_HOOK_CGROUP_SKB_EGRESS{cgpath=%s} ACCEPT
    rule udp.dport 5003 counter DROP
`, v.NameA, v.NameA, cg)
	// The interface exists in a, not in the daemon's namespace nor in b.
	if _, err := e.bfcli(b, "ruleset", "set", "-f", writeFile(t, rules)); err == nil || !strings.Contains(err.Error(), v.NameA) {
		t.Fatalf("a client in another namespace resolved %s: %v", v.NameA, err)
	}
	e.mustBfcli(a, "ruleset", "set", "-f", writeFile(t, rules))

	if n := pings(t, b, addrA, 3); n != 0 {
		t.Fatalf("XDP chain let %d pings through", n)
	}
	if n := udpDelivered(t, b, a, "", netip.AddrPortFrom(addrA, 5001), 5); n != 0 {
		t.Fatalf("TC chain let %d datagrams through", n)
	}
	if n := udpDelivered(t, b, a, "", netip.AddrPortFrom(addrA, 5002), 5); n != 0 {
		t.Fatalf("netfilter chain let %d datagrams through", n)
	}
	if n := udpDelivered(t, a, b, cg, netip.AddrPortFrom(addrB, 5003), 5); n != 0 {
		t.Fatalf("cgroup chain let %d datagrams through", n)
	}
	if n := udpDelivered(t, b, a, "", netip.AddrPortFrom(addrA, 5004), 5); n != 5 {
		t.Fatalf("unfiltered port: %d of 5 datagrams arrived", n)
	}
	cs := e.chains(a)
	// The cgroup sender stops at its first refused datagram.
	for name, min := range map[string]uint64{"x": 3, "tc": 5, "nf": 5, "cg": 1} {
		c, ok := cs[name]
		if !ok || !c.Attached {
			t.Fatalf("chain %s missing or not attached: %+v", name, cs)
		}
		if got := c.Counters.Rules[0].Packets; got < min {
			t.Errorf("chain %s counted %d packets, want at least %d", name, got, min)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	listing := e.mustBfcli(a, "ruleset", "get")
	if !strings.Contains(listing, "chain x BF_HOOK_XDP{ifindex=") || !strings.Contains(listing, "counters policy") {
		t.Fatalf("listing:\n%s", listing)
	}

	if err := e.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("daemon exit: %v: %s", err, e.out)
	}
	if left := bpffsEntries(t, e.bpffs); len(left) != 0 {
		t.Fatalf("transient daemon left pins: %v", left)
	}
	if des, _ := os.ReadDir(e.run); len(des) != 0 {
		t.Fatalf("transient daemon left runtime files: %v", des)
	}
	if out := a.Exec(t, "ip", "link", "show", v.NameA); strings.Contains(out, "xdp") {
		t.Fatalf("XDP program still attached: %s", out)
	}
	if n := pings(t, b, addrA, 2); n != 2 {
		t.Fatalf("after stop %d of 2 pings answered", n)
	}
	for _, port := range []uint16{5001, 5002} {
		if n := udpDelivered(t, b, a, "", netip.AddrPortFrom(addrA, port), 3); n != 3 {
			t.Fatalf("after stop port %d: %d of 3 datagrams", port, n)
		}
	}
	if n := udpDelivered(t, a, b, cg, netip.AddrPortFrom(addrB, 5003), 3); n != 3 {
		t.Fatalf("after stop cgroup: %d of 3 datagrams", n)
	}
}

// TestE2ERestart: a standard-mode daemon stops, filtering goes on, the next
// daemon restores the same chains with counters that kept counting.
func TestE2ERestart(t *testing.T) {
	e := newE2E(t)
	a, b := testenv.NewNetns(t), testenv.NewNetns(t)
	v := testenv.NewVethPair(t, a, b, "198.18.21.1/24", "198.18.21.2/24")
	e.start()
	e.mustBfcli(a, "chain", "set", "-s", fmt.Sprintf(`chain r BF_HOOK_XDP{iface=%s} ACCEPT
		set blocked (ip4.saddr) in { 198.18.99.1 }
		rule ip4.proto icmp counter DROP
		rule (ip4.saddr) in blocked counter DROP`, v.NameA))
	e.mustBfcli(a, "chain", "load", "-s", "chain idle BF_HOOK_TC_EGRESS ACCEPT")
	if n := pings(t, b, v.AddrA.Addr(), 3); n != 0 {
		t.Fatalf("%d pings through", n)
	}
	before := e.chains(a)
	if err := e.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("daemon exit: %v: %s", err, e.out)
	}
	if n := pings(t, b, v.AddrA.Addr(), 4); n != 0 {
		t.Fatalf("filtering stopped with the daemon: %d pings through", n)
	}
	e.start()
	after := e.chains(a)
	if len(after) != 2 || !after["r"].Attached || after["idle"].Attached {
		t.Fatalf("restored chains differ: %+v", after)
	}
	if got, want := after["r"].Counters.Rules[0].Packets, before["r"].Counters.Rules[0].Packets+4; got < want {
		t.Fatalf("counter %d after restart, want at least %d", got, want)
	}
	if got, want := e.mustBfcli(a, "chain", "get", "--name", "r"), "(ip4.saddr) in blocked"; !strings.Contains(got, want) {
		t.Fatalf("restored chain listing:\n%s", got)
	}
	// The iptables chains (INPUT, FORWARD, OUTPUT of iptables and
	// ip6tables) came back too.
	c, err := client.Dial(e.run)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r, err := c.Do(&proto.Request{Front: "iptables", Cmd: proto.CmdRulesetGet})
	if err != nil || len(r.Chains) != 6 {
		t.Fatalf("iptables chains after restart: %v %+v", err, r)
	}
	// Counters survive an update-set and the chain keeps filtering.
	e.mustBfcli(a, "chain", "update-set", "--name", "r", "--set-name", "blocked", "--add", "198.18.99.2")
	if n := pings(t, b, v.AddrA.Addr(), 2); n != 0 {
		t.Fatalf("%d pings through after update-set", n)
	}
	up := e.chains(a)["r"]
	if got, want := up.Counters.Rules[0].Packets, after["r"].Counters.Rules[0].Packets+2; got < want {
		t.Fatalf("counter %d after update-set, want at least %d", got, want)
	}
	if len(up.Chain.Sets[0].Elems) != 2 {
		t.Fatalf("set after update-set: %+v", up.Chain.Sets[0])
	}
	e.mustBfcli(a, "ruleset", "flush")
	if n := pings(t, b, v.AddrA.Addr(), 2); n != 2 {
		t.Fatalf("after flush %d of 2 pings answered", n)
	}
}

// TestE2EKill9DuringUpdate kills the daemon at random moments of chain
// updates: after a restart the chain in force is the old or the new
// version, the daemon agrees with the kernel, and it is never missing.
func TestE2EKill9DuringUpdate(t *testing.T) {
	e := newE2E(t, "--no-iptables")
	a, b := testenv.NewNetns(t), testenv.NewNetns(t)
	v := testenv.NewVethPair(t, a, b, "198.18.22.1/24", "198.18.22.2/24")
	version := func(i int) string {
		verdict := "DROP"
		if i%2 == 1 {
			verdict = "ACCEPT"
		}
		var sb strings.Builder
		fmt.Fprintf(&sb, "chain k BF_HOOK_XDP{iface=%s} ACCEPT\n    rule ip4.proto icmp counter %s\n", v.NameA, verdict)
		// Enough rules that loading takes a while.
		for p := range 200 + i {
			fmt.Fprintf(&sb, "    rule udp.dport %d counter DROP\n", 10000+p)
		}
		return sb.String()
	}
	e.start()
	e.mustBfcli(a, "chain", "set", "-f", writeFile(t, version(0)))
	cur := 0
	rng := rand.New(rand.NewPCG(1, 2))
	ctxFile := filepath.Join(e.run, ContextFileName)
	recovered := 0
	for round := 1; round <= 10; round++ {
		next := cur + 1
		f := writeFile(t, version(next))
		done := make(chan error, 1)
		go func() {
			_, err := e.bfcli(a, "chain", "update", "-f", f)
			done <- err
		}()
		if round%2 == 0 {
			time.Sleep(time.Duration(rng.IntN(80)) * time.Millisecond)
		} else {
			// Wait until the daemon has written the update ahead, then
			// kill it somewhere inside the swap.
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
				if pendingOnDisk(ctxFile) {
					break
				}
				time.Sleep(200 * time.Microsecond)
			}
			time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
		}
		e.cmd.Process.Kill()
		<-e.exited
		<-done
		pending := false
		if pendingOnDisk(ctxFile) {
			pending = true
			recovered++
		}
		e.start()
		c, ok := e.chains(a)["k"]
		if !ok || !c.Attached {
			t.Fatalf("round %d: chain missing after restart", round)
		}
		n := len(c.Chain.Rules) - 201
		if n != cur && n != next {
			t.Fatalf("round %d: chain version %d in force, want %d or %d", round, n, cur, next)
		}
		wantPings := 0
		if n%2 == 1 {
			wantPings = 2
		}
		if got := pings(t, b, v.AddrA.Addr(), 2); got != wantPings {
			t.Fatalf("round %d: version %d in force per the daemon, but %d of 2 pings answered; daemon log:\n%s\n%s", round, n, got, e.out, a.Exec(t, "ip", "-d", "link", "show", v.NameA))
		}
		t.Logf("round %d: killed during update %d→%d (pending update left: %v), %d in force", round, cur, next, pending, n)
		cur = n
	}
	t.Logf("%d of 10 restarts recovered an interrupted update", recovered)
	// Nothing is left over: one chain, one pin directory.
	if des, _ := os.ReadDir(filepath.Join(e.bpffs, PinDirName)); len(des) != 1 {
		t.Fatalf("%d pin directories, want 1", len(des))
	}
}

// TestE2EStartFailures: a corrupted context, a path that is not a bpffs, a
// second daemon, a token the kernel cannot give: each exits non-zero and
// says why.
func TestE2EStartFailures(t *testing.T) {
	e := newE2E(t, "--no-iptables")
	if err := os.MkdirAll(e.run, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx := filepath.Join(e.run, ContextFileName)
	os.WriteFile(ctx, []byte(`{"version": 1, "next_gen": 2, "chains": [{"front": "cli", "chain": {"Name": "a", "Hook": 0`), 0o600)
	out, err := e.runDaemon()
	if err == nil || !strings.Contains(out, "context.json") || !strings.Contains(out, "malformed") {
		t.Fatalf("corrupted context: %v: %s", err, out)
	}
	if b, _ := os.ReadFile(ctx); !strings.HasPrefix(string(b), `{"version": 1, "next_gen": 2`) {
		t.Fatal("failed restore rewrote the context file")
	}
	os.Remove(ctx)

	out, err = e.runDaemon("--bpffs-path", t.TempDir())
	if err == nil || !strings.Contains(out, "not on a BPF filesystem") {
		t.Fatalf("bad bpffs: %v: %s", err, out)
	}
	out, err = e.runDaemon("--with-bpf-token")
	if err == nil || !strings.Contains(out, "--with-bpf-token") {
		t.Fatalf("token in the initial user namespace: %v: %s", err, out)
	}
	out, err = e.runDaemon("--verbose=loud")
	if err == nil || !strings.Contains(out, `unknown verbose flag "loud"`) {
		t.Fatalf("verbose=loud: %v: %s", err, out)
	}
	e.start()
	out, err = e.runDaemon()
	if err == nil || !strings.Contains(out, "another bpfilter daemon is running") {
		t.Fatalf("second daemon: %v: %s", err, out)
	}
}

// TestE2EConcurrentClients: 50 bfcli processes set and update 50 chains at
// once; every update lands.
func TestE2EConcurrentClients(t *testing.T) {
	e := newE2E(t, "--no-iptables")
	a := testenv.NewNetns(t)
	e.start()
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("c%02d", i)
			if _, err := e.bfcli(a, "chain", "set", "-s", fmt.Sprintf("chain %s BF_HOOK_NF_LOCAL_IN{priorities=%d-%d} ACCEPT", name, 1000+2*i, 1001+2*i)); err != nil {
				errs <- err
				return
			}
			_, err := e.bfcli(a, "chain", "update", "-s", fmt.Sprintf("chain %s BF_HOOK_NF_LOCAL_IN ACCEPT rule udp.dport %d counter DROP", name, 20000+i))
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	cs := e.chains(a)
	if len(cs) != n {
		t.Fatalf("%d chains, want %d", len(cs), n)
	}
	for name, c := range cs {
		if !c.Attached || len(c.Chain.Rules) != 1 {
			t.Fatalf("chain %s lost its update or attachment: %+v", name, c)
		}
	}
}

// TestE2EAccess: the socket is root-only unless --socket-group opens it,
// and a disabled front is refused naming its flag.
func TestE2EAccess(t *testing.T) {
	const nobody = 65534
	e := newE2E(t, "--no-cli", "-t")
	e.start()
	if _, err := e.bfcli(e.ns, "ruleset", "get"); err == nil || !strings.Contains(err.Error(), "--no-cli") {
		t.Fatalf("--no-cli: %v", err)
	}
	// The test binary and the socket's directories must be reachable by
	// nobody, so that only the socket's own mode decides.
	bin := filepath.Join(mkdirPublic(t), "bfcli.test")
	if data, err := os.ReadFile(os.Args[0]); err != nil || os.WriteFile(bin, data, 0o755) != nil {
		t.Fatalf("copying the test binary: %v", err)
	}
	for d := filepath.Dir(e.run); d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	asNobody := func() error {
		cmd := exec.Command(bin, "--runtime-dir", e.run, "ruleset", "get")
		cmd.Env = append(os.Environ(), mainEnv+"=bfcli")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%w: %s", err, out)
		}
		return nil
	}
	if err := asNobody(); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("uid %d reached a root-only socket: %v", nobody, err)
	}
	e.stop(syscall.SIGTERM)
	e.args = []string{"--socket-group", fmt.Sprint(nobody), "-t"}
	e.start()
	if err := asNobody(); err != nil {
		t.Fatalf("group member refused: %v", err)
	}
}

// mkdirPublic makes a world-readable temporary directory.
func mkdirPublic(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "bpfilter-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestE2ELogs streams the log records of a chain while traffic matches a
// logging rule.
func TestE2ELogs(t *testing.T) {
	e := newE2E(t, "-t", "--no-iptables")
	a, b := testenv.NewNetns(t), testenv.NewNetns(t)
	v := testenv.NewVethPair(t, a, b, "198.18.23.1/24", "198.18.23.2/24")
	e.start()
	e.mustBfcli(a, "chain", "set", "-s", fmt.Sprintf("chain l BF_HOOK_XDP{iface=%s} ACCEPT rule ip4.proto icmp log internet,transport counter ACCEPT", v.NameA))
	c, err := client.Dial(e.run)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got := make(chan proto.LogEntry, 16)
	go c.Stream(&proto.Request{Front: "cli", Cmd: proto.CmdChainLogs, Name: "l"}, func(r *proto.Response) error {
		got <- *r.Log
		return nil
	})
	deadline := time.After(20 * time.Second)
	for {
		pings(t, b, v.AddrA.Addr(), 1)
		select {
		case le := <-got:
			if le.Text == "" || len(le.Data) == 0 || !strings.Contains(strings.ToLower(le.Text), "icmp") {
				t.Fatalf("log record: %+v", le)
			}
			t.Logf("log record: %s", le.Text)
			return
		case <-deadline:
			t.Fatal("no log record within 20s")
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// TestE2ERestoreAfterNetnsGone: a chain was attached in a network namespace
// that is deleted while the daemon is down; the next daemon still starts.
func TestE2ERestoreAfterNetnsGone(t *testing.T) {
	e := newE2E(t, "--no-iptables")
	name := fmt.Sprintf("bfgone-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	gone := &testenv.Netns{Name: name, Path: "/run/netns/" + name}
	gone.Exec(t, "ip", "link", "add", "g0", "type", "veth", "peer", "name", "g1")
	gone.Exec(t, "ip", "link", "set", "g0", "up")
	e.start()
	e.mustBfcli(gone, "chain", "set", "-s", "chain g BF_HOOK_XDP{iface=g0} ACCEPT rule ip4.proto icmp counter DROP")
	e.mustBfcli(gone, "chain", "set", "-s", "chain n BF_HOOK_NF_LOCAL_IN{priorities=7-8} ACCEPT")
	if err := e.stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	e.start()
	cs := e.chains(e.ns)
	if len(cs) != 2 {
		t.Fatalf("chains after restart: %+v", cs)
	}
	if !strings.Contains(e.out.String(), "network namespace is gone") {
		t.Fatalf("the restore did not meet the deleted namespace: %s", e.out)
	}
	e.mustBfcli(e.ns, "ruleset", "flush")
}

// TestE2ERulesetSetSwapsInPlace: a new ruleset whose chains have other names
// but the same attachments replaces the old one with link updates; a
// ruleset that cannot load leaves the old one filtering.
func TestE2ERulesetSetSwapsInPlace(t *testing.T) {
	e := newE2E(t, "-t", "--no-iptables")
	a, b := testenv.NewNetns(t), testenv.NewNetns(t)
	v := testenv.NewVethPair(t, a, b, "198.18.24.1/24", "198.18.24.2/24")
	e.start()
	e.mustBfcli(a, "ruleset", "set", "-s", fmt.Sprintf(`
chain old_xdp BF_HOOK_XDP{iface=%[1]s} ACCEPT rule ip4.proto icmp counter DROP
chain old_tc BF_HOOK_TC_INGRESS{iface=%[1]s} ACCEPT`, v.NameA))
	if n := pings(t, b, v.AddrA.Addr(), 2); n != 0 {
		t.Fatalf("%d pings through", n)
	}
	// One chain of the new ruleset cannot attach (no such cgroup): nothing
	// changes.
	if _, err := e.bfcli(a, "ruleset", "set", "-s", fmt.Sprintf(`
chain new_xdp BF_HOOK_XDP{iface=%[1]s} ACCEPT
chain bad BF_HOOK_CGROUP_SKB_INGRESS{cgpath=/sys/fs/cgroup/no/such/cgroup} ACCEPT`, v.NameA)); err == nil {
		t.Fatal("a ruleset with a missing cgroup was accepted")
	}
	if cs := e.chains(a); len(cs) != 2 || cs["old_xdp"].Chain == nil {
		t.Fatalf("failed ruleset set changed the chains: %+v", cs)
	}
	if n := pings(t, b, v.AddrA.Addr(), 2); n != 0 {
		t.Fatalf("old ruleset no longer filters: %d pings through", n)
	}
	e.mustBfcli(a, "ruleset", "set", "-s", fmt.Sprintf(`
chain new_xdp BF_HOOK_XDP{iface=%[1]s} ACCEPT rule ip4.proto icmp counter ACCEPT
chain new_tc BF_HOOK_TC_INGRESS{iface=%[1]s} NEXT`, v.NameA))
	if n := pings(t, b, v.AddrA.Addr(), 2); n != 2 {
		t.Fatalf("new ruleset: %d of 2 pings answered", n)
	}
	cs := e.chains(a)
	if len(cs) != 2 || !cs["new_xdp"].Attached || !cs["new_tc"].Attached {
		t.Fatalf("chains: %+v", cs)
	}
	// TCX stacks a second chain on the interface (reached because new_tc
	// defers with NEXT); XDP does not.
	e.mustBfcli(a, "chain", "set", "-s", fmt.Sprintf("chain more_tc BF_HOOK_TC_INGRESS{iface=%s} ACCEPT rule ip4.proto icmp counter DROP", v.NameA))
	if n := pings(t, b, v.AddrA.Addr(), 2); n != 0 {
		t.Fatalf("stacked TC chain not in force: %d pings through", n)
	}
	if _, err := e.bfcli(a, "chain", "set", "-s", fmt.Sprintf("chain more_xdp BF_HOOK_XDP{iface=%s} ACCEPT", v.NameA)); err == nil || !strings.Contains(err.Error(), "new_xdp is already attached") {
		t.Fatalf("second XDP chain on an interface: %v", err)
	}
}

// TestE2ERepairInterruptedRepin simulates a daemon killed inside an
// in-place swap, between the unpin of the old program and maps and the
// pinning of the new ones: the chain's directory holds only its links and
// the context has the update pending. The next daemon rebuilds the pins
// and the new version is in force.
func TestE2ERepairInterruptedRepin(t *testing.T) {
	e := newE2E(t, "--no-iptables")
	a, b := testenv.NewNetns(t), testenv.NewNetns(t)
	v := testenv.NewVethPair(t, a, b, "198.18.25.1/24", "198.18.25.2/24")
	e.start()
	e.mustBfcli(a, "chain", "set", "-s", fmt.Sprintf("chain w BF_HOOK_XDP{iface=%s} ACCEPT rule ip4.proto icmp counter DROP", v.NameA))
	if err := e.stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	ctxFile := filepath.Join(e.run, ContextFileName)
	data, err := os.ReadFile(ctxFile)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := decodeContext(data)
	if err != nil || len(sc.Chains) != 1 {
		t.Fatalf("context: %v", err)
	}
	old := sc.Chains[0]
	next := *old
	next.Chain = parseChain(t, "chain w BF_HOOK_XDP ACCEPT rule ip4.proto icmp counter ACCEPT")
	next.Chain.HookOpts = old.Chain.HookOpts
	sc.Pending = &pendingPlan{Front: "cli", Add: []*entry{&next}}
	dir := filepath.Join(e.bpffs, PinDirName, old.Pin)
	des, _ := os.ReadDir(dir)
	removed := 0
	for _, de := range des {
		if !strings.HasPrefix(de.Name(), "link") {
			os.Remove(filepath.Join(dir, de.Name()))
			removed++
		}
	}
	if removed == 0 || len(des) == removed {
		t.Fatalf("pin directory %s: %d entries, %d removed", dir, len(des), removed)
	}
	b2, _ := json.Marshal(sc)
	if err := os.WriteFile(ctxFile, b2, 0o600); err != nil {
		t.Fatal(err)
	}
	e.start()
	c, ok := e.chains(a)["w"]
	if !ok || !c.Attached || c.Chain.Rules[0].Verdict.Kind.String() != "ACCEPT" {
		t.Fatalf("after repair: %+v\n%s", c, e.out)
	}
	if n := pings(t, b, v.AddrA.Addr(), 2); n != 2 {
		t.Fatalf("new version not in force: %d of 2 pings answered\n%s", n, e.out)
	}
	if !strings.Contains(e.out.String(), "rebuilt the pins") {
		t.Fatalf("no repair happened:\n%s", e.out)
	}
}

// TestE2EVerbose: --verbose=bytecode dumps each program before it is
// loaded, --verbose=debug logs requests, --buffer-len is accepted with them.
func TestE2EVerbose(t *testing.T) {
	e := newE2E(t, "-t", "--no-iptables", "-v", "bytecode", "--verbose=debug", "-b", "20")
	e.start()
	e.mustBfcli(e.ns, "chain", "load", "-s", "chain vb BF_HOOK_XDP ACCEPT rule ip4.proto icmp counter DROP")
	out := e.out.String()
	for _, want := range []string{"chain vb BF_HOOK_XDP:", "instructions", "request done", "cmd=chain.load"} {
		if !strings.Contains(out, want) {
			t.Fatalf("daemon output lacks %q:\n%s", want, out)
		}
	}
}
