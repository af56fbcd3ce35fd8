package iptablese2e

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bpfilter-go/bpfilter/internal/testenv"
)

// udpDelivered sends count datagrams from sender to dst (a UDP port
// listened on in receiver) and returns how many arrived.
func udpDelivered(t *testing.T, sender, receiver *testenv.Netns, dst netip.AddrPort, count int) int {
	t.Helper()
	conn, err := receiver.ListenUDP(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sender.Run(testenv.UDPSendCommand(dst, count, true)...)
	n := 0
	buf := make([]byte, 1500)
	for {
		conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if _, _, err := conn.ReadFromUDP(buf); err != nil {
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() {
				return n
			}
			t.Fatal(err)
		}
		n++
	}
}

// trafficEnv is a client and a server joined by a veth pair, with a
// bpfilter daemon in the server's namespace.
type trafficEnv struct {
	client, server *testenv.Netns
	veth           *testenv.Veth
	d              *daemon
}

func newTrafficEnv(t *testing.T, daemonArgs ...string) *trafficEnv {
	requireE2E(t)
	e := &trafficEnv{client: testenv.NewNetns(t), server: testenv.NewNetns(t)}
	e.veth = testenv.NewVethPair(t, e.client, e.server, "198.18.0.1/24", "198.18.0.2/24")
	e.d = newDaemon(t, e.server, daemonArgs...)
	e.d.start()
	return e
}

// udp sends count datagrams to the server's port over IPv4 (v6 false) or
// IPv6, returning how many arrived.
func (e *trafficEnv) udp(t *testing.T, v6 bool, port uint16, count int) int {
	t.Helper()
	addr := e.veth.AddrB.Addr()
	if v6 {
		addr = e.veth.Addr6B.Addr()
	}
	return udpDelivered(t, e.client, e.server, netip.AddrPortFrom(addr, port), count)
}

// ruleCounters returns the packet count of every rule of chain in
// `-L chain -n -v -x` order.
func ruleCounters(t *testing.T, d *daemon, tool, chain string) []int {
	t.Helper()
	out := d.mustTool(tool, "-L", chain, "-n", "-v", "-x")
	var pk []int
	for _, l := range strings.Split(out, "\n")[2:] {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		n, err := strconv.Atoi(f[0])
		if err != nil {
			t.Fatalf("counter line %q", l)
		}
		pk = append(pk, n)
	}
	return pk
}

func TestTrafficFiltered(t *testing.T) {
	e := newTrafficEnv(t, "--transient")
	d := e.d
	if n := e.udp(t, false, 9000, 5); n != 5 {
		t.Fatalf("before any rule: %d/5 delivered", n)
	}
	d.mustTool("iptables", "-N", "UDPCHECK")
	d.mustTool("iptables", "-A", "UDPCHECK", "-p", "udp", "--dport", "9000", "-j", "DROP")
	d.mustTool("iptables", "-A", "INPUT", "-s", "198.18.0.0/24", "-j", "UDPCHECK")
	d.mustTool("ip6tables", "-A", "INPUT", "-p", "udp", "--dport", "9001", "-j", "DROP")
	if n := e.udp(t, false, 9000, 5); n != 0 {
		t.Errorf("udp 9000 v4: %d/5 delivered through -j DROP in a user chain", n)
	}
	if n := e.udp(t, false, 9001, 5); n != 5 {
		t.Errorf("udp 9001 v4: %d/5 delivered, the v6 rule must not apply", n)
	}
	if n := e.udp(t, true, 9001, 5); n != 0 {
		t.Errorf("udp 9001 v6: %d/5 delivered through ip6tables DROP", n)
	}
	if n := e.udp(t, true, 9000, 5); n != 5 {
		t.Errorf("udp 9000 v6: %d/5 delivered, the v4 rule must not apply", n)
	}
	// BPF counters come back in the listings.
	if c := ruleCounters(t, d, "iptables", "UDPCHECK"); len(c) != 1 || c[0] != 5 {
		t.Errorf("UDPCHECK counters %v, want [5]", c)
	}
	if c := ruleCounters(t, d, "iptables", "INPUT"); len(c) != 1 || c[0] != 10 {
		t.Errorf("INPUT counters %v, want [10] (5 dropped, 5 returned)", c)
	}
	if c := ruleCounters(t, d, "ip6tables", "INPUT"); len(c) != 1 || c[0] != 5 {
		t.Errorf("ip6tables INPUT counters %v, want [5]", c)
	}
	save := d.mustTool("iptables-save", "-c")
	if !strings.Contains(save, "[5:") || !regexp.MustCompile(`\[10:\d+\] -A INPUT -s 198.18.0.0/24 -j UDPCHECK`).MatchString(save) {
		t.Errorf("iptables-save -c lacks the BPF counters:\n%s", save)
	}
	// -Z zeroes them, a new rule starts at zero, the others keep counting.
	d.mustTool("iptables", "-Z")
	d.mustTool("iptables", "-I", "INPUT", "-p", "udp", "--dport", "9002", "-j", "DROP")
	if n := e.udp(t, false, 9002, 3); n != 0 {
		t.Errorf("udp 9002: %d/3 delivered after -I ... DROP", n)
	}
	if c := ruleCounters(t, d, "iptables", "INPUT"); fmt.Sprint(c) != "[3 0]" {
		t.Errorf("INPUT counters after -Z and 3 packets: %v, want [3 0]", c)
	}
	// A policy of DROP drops what no rule accepted; deleting the rules
	// and restoring ACCEPT lets everything through again.
	d.mustTool("iptables", "-P", "INPUT", "DROP")
	if n := e.udp(t, false, 9005, 3); n != 0 {
		t.Errorf("INPUT policy DROP: %d/3 delivered", n)
	}
	d.mustTool("iptables", "-P", "INPUT", "ACCEPT")
	d.mustTool("iptables", "-F")
	d.mustTool("iptables", "-X")
	if n := e.udp(t, false, 9000, 5); n != 5 {
		t.Errorf("after -F/-X: %d/5 delivered", n)
	}
}

// TestUnsupportedRefused checks a rule bpfilter cannot translate is
// refused with its text and the feature, and changes nothing: neither the
// table nor the traffic.
func TestUnsupportedRefused(t *testing.T) {
	e := newTrafficEnv(t, "--transient")
	d := e.d
	d.mustTool("iptables", "-A", "INPUT", "-p", "udp", "--dport", "9000", "-j", "DROP")
	before := d.mustTool("iptables-save")
	r := d.tool("", "iptables", "-A", "INPUT", "-p", "udp", "--dport", "9001", "-j", "NFQUEUE", "--queue-num", "3")
	if r.code == 0 || !strings.Contains(r.err, "-A INPUT -p udp -m udp --dport 9001 -j NFQUEUE --queue-num 3") || !strings.Contains(r.err, "NFQUEUE is not supported") {
		t.Fatalf("NFQUEUE rule: exit %d, stderr %q; want a refusal naming the rule and NFQUEUE", r.code, r.err)
	}
	r = d.tool("*filter\n-A INPUT -p udp --dport 9001 -j ACCEPT\n-A INPUT -p udp --dport 9002 -j NFLOG --nflog-group 1\nCOMMIT\n", "iptables-restore", "--noflush")
	if r.code == 0 || !strings.Contains(r.err, "target NFLOG is not supported") {
		t.Fatalf("restore with -j NFLOG: exit %d, stderr %q", r.code, r.err)
	}
	if after := d.mustTool("iptables-save"); normalize(after) != normalize(before) {
		t.Errorf("a refused change altered the table:\n%s\nwas:\n%s", after, before)
	}
	if n := e.udp(t, false, 9000, 3); n != 0 {
		t.Errorf("the rule in force before the refusal no longer drops: %d/3", n)
	}
	if n := e.udp(t, false, 9001, 3); n != 3 {
		t.Errorf("udp 9001: %d/3 delivered; the refused restore must not have added its ACCEPT... or anything", n)
	}
}

// TestRestartKeepsRuleset stops a standard-mode daemon and starts another
// on the same runtime dir and bpffs: the rules stay in force while it is
// down and come back in listings with their counters.
func TestRestartKeepsRuleset(t *testing.T) {
	e := newTrafficEnv(t)
	d := e.d
	d.mustTool("iptables", "-N", "BLOCK")
	d.mustTool("iptables", "-A", "BLOCK", "-p", "udp", "--dport", "9000", "-j", "DROP")
	d.mustTool("iptables", "-A", "INPUT", "-j", "BLOCK")
	d.mustTool("ip6tables", "-A", "INPUT", "-p", "udp", "--dport", "9000", "-j", "DROP")
	if n := e.udp(t, false, 9000, 4); n != 0 {
		t.Fatalf("before restart: %d/4 delivered", n)
	}
	before := d.mustTool("iptables-save", "-c")
	before6 := d.mustTool("ip6tables-save")
	d.stop()
	if n := e.udp(t, false, 9000, 2); n != 0 {
		t.Errorf("daemon down: %d/2 delivered; pinned chains must stay in force", n)
	}
	d2 := &daemon{t: t, ns: d.ns, run: d.run, bpffs: d.bpffs}
	d2.start()
	after := d2.mustTool("iptables-save", "-c")
	stripDates := func(s string) string { return regexp.MustCompile(`(?m)^#.*\n`).ReplaceAllString(s, "") }
	// 4 + 2 packets reached the rules while the first daemon ran and while
	// none ran.
	want := regexp.MustCompile(`\[4:(\d+)\]`).ReplaceAllStringFunc(stripDates(before), func(m string) string {
		b, _ := strconv.Atoi(m[3 : len(m)-1])
		return fmt.Sprintf("[6:%d]", b/4*6)
	})
	if stripDates(after) != want {
		t.Errorf("after restart:\n%s\nwant:\n%s", after, want)
	}
	// IPv6 neighbour discovery keeps moving the policy counters.
	if got := d2.mustTool("ip6tables-save"); normalize(got) != normalize(before6) {
		t.Errorf("ip6tables after restart:\n%s\nwant:\n%s", got, before6)
	}
	if n := e.udp(t, true, 9000, 3); n != 0 {
		t.Errorf("v6 after restart: %d/3 delivered", n)
	}
	d2.mustTool("iptables", "-D", "BLOCK", "1")
	if n := e.udp(t, false, 9000, 3); n != 3 {
		t.Errorf("after deleting the rule: %d/3 delivered", n)
	}
}

// TestDifferentialTraffic loads the same rules into iptables-legacy in one
// pair of namespaces and into bpfilter in another, sends the same UDP
// datagrams (v4 and v6, boundary ports, inside and outside the source
// prefix) and expects the same deliveries.
func TestDifferentialTraffic(t *testing.T) {
	requireE2E(t)
	testenv.RequireCommand(t, "iptables-legacy")
	ours := newTrafficEnv(t, "--transient")
	theirs := &trafficEnv{client: testenv.NewNetns(t), server: testenv.NewNetns(t)}
	theirs.veth = testenv.NewVethPair(t, theirs.client, theirs.server, "198.18.0.1/24", "198.18.0.2/24")
	rules := map[string][]string{
		"iptables": {
			"-N PORTS",
			"-A PORTS -p udp --dport 1000:1999 -j DROP",
			"-A PORTS -p udp --dport 2000 -j RETURN",
			"-A PORTS -p udp ! --dport 3000:3010 -j ACCEPT",
			"-A PORTS -j DROP",
			"-A INPUT -s 198.18.0.0/30 -j PORTS",
			"-A INPUT -p udp --sport 7 -j DROP",
			"-A INPUT -p udp --dport 2000 -j DROP",
		},
		"ip6tables": {
			"-A INPUT -p udp --dport 1000:1999 -j DROP",
			"-A INPUT ! -s fd00:198:18::/64 -j DROP",
			"-A INPUT -p udp --dport 3005 -j DROP",
		},
	}
	for tool, cmds := range rules {
		for _, c := range cmds {
			ours.d.mustTool(tool, strings.Fields(c)...)
			must(t, legacy(t, theirs.server, "", tool, strings.Fields(c)...), tool+"-legacy "+c)
		}
	}
	dropped, passed := 0, 0
	defer func() {
		if dropped == 0 || passed == 0 {
			t.Errorf("the rules dropped %d and passed %d probes: the comparison proves nothing", dropped, passed)
		}
	}()
	for _, v6 := range []bool{false, true} {
		for _, port := range []uint16{999, 1000, 1500, 1999, 2000, 2001, 2999, 3000, 3005, 3010, 3011, 65535} {
			got, want := ours.udp(t, v6, port, 2), theirs.udp(t, v6, port, 2)
			if want == 0 {
				dropped++
			} else {
				passed++
			}
			if got != want {
				t.Errorf("udp port %d (v6 %v): bpfilter delivered %d/2, iptables-legacy %d/2", port, v6, got, want)
			}
		}
	}
}
