package iptdiff

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// IPv6 address types with a route lookup (ip6tables -m addrtype LOCAL,
// ANYCAST, UNREACHABLE): R gets routes of every kind, addresses on
// loopback and a forwarding link (the kernel's subnet-router anycast),
// and no default route, so addresses outside them have no route at all.

// at6Routes are added to R; @IF@ is R's link towards S.
var at6Routes = [][]string{
	{"unreachable", "fd00:198:66::/64"},
	{"blackhole", "fd00:198:66:1::/64"},
	{"prohibit", "fd00:198:66:2::/64"},
	{"throw", "fd00:198:66:3::/64", "table", "local"},
	{"throw", "fd00:198:66:4::/64", "table", "local"},
	{"fd00:198:66:4::/64", "dev", "@IF@"},
	{"anycast", "fd00:198:67::1", "dev", "lo", "table", "local"},
	{"anycast", "fd00:198:67:1::/64", "dev", "@IF@", "table", "local"},
	{"local", "fd00:198:68::/64", "dev", "lo"},
	{"local", "fd00:198:68:1::/64", "dev", "@IF@", "table", "local"},
	{"fd00:198:6a::/64", "via", "fd00:198:18::1", "dev", "@IF@"},
	{"fd00:198:6b::/64", "dev", "@IF@"},
	{"unreachable", "fd00:198:6c::/64", "metric", "100"},
	{"fd00:198:6c::/64", "dev", "@IF@", "metric", "200"},
}

// at6Addrs are source addresses (INPUT) and destinations (OUTPUT) in and
// around those routes.
var at6Addrs = []string{"fd00:198:66::5", "fd00:198:66:1::5", "fd00:198:66:2::5", "fd00:198:66:3::5",
	"fd00:198:66:4::", "fd00:198:66:4::5", "fd00:198:67::1", "fd00:198:67:1::", "fd00:198:67:1::5",
	"fd00:198:68::5", "fd00:198:68:1::5", "fd00:198:69::1", "fd00:198:6a::", "fd00:198:6a::5",
	"fd00:198:6b::", "fd00:198:6b::5", "fd00:198:6c::5", "fd00:198:18::", "fd00:198:18::1",
	"fd00:198:18::2", "fd00:198:18::9", "fd00:198:99::1", "fe80::1"}

// at6Masks are the --src-type / --dst-type masks the rules test.
var at6Masks = []string{"LOCAL", "ANYCAST", "UNREACHABLE", "LOCAL,ANYCAST", "ANYCAST,UNREACHABLE",
	"UNICAST,LOCAL", "UNICAST,ANYCAST", "UNICAST,UNREACHABLE"}

// setupAt6 gives R the routes and addresses of these tests.
func (sd *side) setupAt6(t *testing.T) {
	t.Helper()
	sd.r.Exec(t, "ip", "-6", "addr", "add", "fd00:198:69::1/128", "dev", "lo")
	sd.r.Exec(t, "sysctl", "-q", "-w", "net.ipv6.conf."+sd.ifIn+".forwarding=1")
	for _, r := range at6Routes {
		args := []string{"ip", "-6", "route", "add"}
		for _, a := range r {
			args = append(args, sd.subst(a))
		}
		sd.r.Exec(t, args...)
	}
}

// at6Rules returns an ip6tables-restore text with one DROP rule per mask,
// limit and negation on chain, testing the source (INPUT) or destination
// type, each on its own UDP port (base + 100*variant + mask index).
func at6Rules(chain, dir string, limit string) (string, []uint16) {
	var b strings.Builder
	var ports []uint16
	b.WriteString("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n")
	for v, variant := range []struct{ neg, lim string }{{"", ""}, {"", " " + limit}, {"! ", ""}, {"! ", " " + limit}} {
		for i, m := range at6Masks {
			port := uint16(1000 + 100*v + i)
			fmt.Fprintf(&b, "-A %s -p udp -m udp --dport %d -m addrtype %s--%s-type %s%s -j DROP\n", chain, port, variant.neg, dir, m, variant.lim)
			ports = append(ports, port)
		}
	}
	b.WriteString("COMMIT\n")
	return b.String(), ports
}

// TestDiffAddrtype6Input sends packets from addresses of every route kind
// to R through INPUT rules testing the source type (and the destination
// type of R's own, loopback-held and anycast addresses), with and
// without --limit-iface-in, negated or not: iptables-legacy and bpfilter
// deliver the same packets.
func TestDiffAddrtype6Input(t *testing.T) {
	requireEnv(t)
	kern, bpf := newSide(t, "iptables-legacy"), newSide(t, "bpfilter")
	sides := []*side{kern, bpf}
	srcRules, ports := at6Rules("INPUT", "src", "--limit-iface-in")
	dstRules, dports := at6Rules("INPUT", "dst", "--limit-iface-in")
	for i := range dports {
		dports[i] += 4000
	}
	dstRules = strings.NewReplacer("--dport 1", "--dport 5").Replace(dstRules)
	rules := srcRules[:strings.LastIndex(srcRules, "COMMIT")] + dstRules[strings.Index(dstRules, "-A "):]
	for _, sd := range sides {
		sd.setupAt6(t)
	}
	kern.loadKernel(t, "", rules)
	bpf.loadBpfilter(t, "", rules)
	var probes []probe
	add := func(src, dst netip.Addr, port uint16) {
		h := l4{proto: 17, sport: 4000, dport: port}
		m := markerFor(uint32(len(probes)))
		probes = append(probes, probe{v6: true, marker: m, ip: ipPacket(src, dst, 17, 64, h.encode(src, dst, m)), desc: describe(src, dst, h, 64)})
	}
	for _, s := range at6Addrs {
		for _, port := range ports {
			add(netip.MustParseAddr(s), kern.recv6, port)
		}
	}
	for _, d := range []string{"fd00:198:18::2", "fd00:198:18::3", "fd00:198:69::1", "fd00:198:68::5", "fd00:198:18::", "fd00:198:67:1::5"} {
		for _, port := range dports {
			add(netip.MustParseAddr("fd00:198:18::1"), netip.MustParseAddr(d), port)
		}
	}
	compareDeliveries(t, probes, deliver(t, sides, probes))
}

// compareDeliveries reports the probes the two sides treated differently
// and fails when the rules let everything or nothing through.
func compareDeliveries(t *testing.T, probes []probe, got []map[uint32]bool) {
	t.Helper()
	bad, delivered := 0, 0
	for i, p := range probes {
		id := uint32(i)
		if got[0][id] {
			delivered++
		}
		if got[0][id] != got[1][id] {
			bad++
			if bad <= 40 {
				t.Errorf("%s: iptables-legacy delivered=%v, bpfilter delivered=%v", p.desc, got[0][id], got[1][id])
			}
		}
	}
	t.Logf("%d probes, %d delivered by iptables-legacy, %d differences", len(probes), delivered, bad)
	if delivered == 0 || delivered == len(probes) {
		t.Errorf("the ruleset delivered %d of %d probes: the comparison tests nothing", delivered, len(probes))
	}
}

// outputOutcomes6 sends one UDP datagram from F to every IPv6 destination
// and port, as outputOutcomes.
func (sd *side) outputOutcomes6(t *testing.T, dsts []string, ports []uint16) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := sd.f.Do(func() error {
		for _, d := range dsts {
			for _, port := range ports {
				fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
				if err != nil {
					return err
				}
				a := netip.MustParseAddr(d)
				sa := &unix.SockaddrInet6{Port: int(port), Addr: a.As16()}
				if a.IsLinkLocalUnicast() {
					sa.ZoneId = uint32(sd.ifIndex(t))
				}
				err = unix.Sendto(fd, []byte("addrtype"), 0, sa)
				unix.Close(fd)
				out[fmt.Sprintf("[%s]:%d", d, port)] = sendOutcome(err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%s: %v", sd.name, err)
	}
	return out
}

// ifIndex returns the index of F's interface towards S.
func (sd *side) ifIndex(t *testing.T) int {
	t.Helper()
	idx := 0
	err := sd.f.Do(func() error {
		ifc, err := netInterfaceByName(sd.ifIn)
		if err == nil {
			idx = ifc
		}
		return err
	})
	if err != nil {
		t.Fatalf("%s: %v", sd.name, err)
	}
	return idx
}

// TestDiffAddrtype6Output sends datagrams from R itself to addresses of
// every route kind through OUTPUT rules testing the destination type,
// with and without --limit-iface-out: both sides drop the same sends (and
// fail the same ones before the hook).
func TestDiffAddrtype6Output(t *testing.T) {
	requireEnv(t)
	kern, bpf := newSide(t, "iptables-legacy"), newSide(t, "bpfilter")
	rules, ports := at6Rules("OUTPUT", "dst", "--limit-iface-out")
	for _, sd := range []*side{kern, bpf} {
		sd.setupAt6(t)
	}
	kern.loadKernel(t, "", rules)
	bpf.loadBpfilter(t, "", rules)
	k, b := kern.outputOutcomes6(t, at6Addrs, ports), bpf.outputOutcomes6(t, at6Addrs, ports)
	drops, sent := map[string]int{}, 0
	for key, o := range k {
		switch o {
		case "dropped":
			drops[key[:strings.LastIndex(key, ":")]]++
		case "sent":
			sent++
		}
		if b[key] != o {
			t.Errorf("UDP to %s: iptables-legacy %s, bpfilter %s", key, o, b[key])
		}
	}
	t.Logf("OUTPUT drops by destination (iptables-legacy): %v; %d sent", drops, sent)
	if len(drops) < 5 || sent == 0 {
		t.Errorf("only %d destinations had drops on OUTPUT, %d sends passed: the comparison tests little", len(drops), sent)
	}
}

const at6Forward = `*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A FORWARD -p tcp -m addrtype --dst-type UNREACHABLE --limit-iface-out -j DROP
-A FORWARD -p udp -m addrtype --src-type LOCAL --limit-iface-in -j DROP
-A FORWARD -p udp -m addrtype ! --src-type UNREACHABLE -m udp --dport 53 -j DROP
-A FORWARD -m addrtype --dst-type LOCAL,ANYCAST -j DROP
-A FORWARD -p icmpv6 -m addrtype --src-type UNICAST,UNREACHABLE -j DROP
COMMIT
`

// TestDiffAddrtype6Forward sends random traffic, and packets from
// addresses of every route kind, through a router whose FORWARD chain
// matches IPv6 route lookup types with interface limits.
func TestDiffAddrtype6Forward(t *testing.T) {
	requireEnv(t)
	kern, bpf := newSideMode(t, "iptables-legacy", true), newSideMode(t, "bpfilter", true)
	sides := []*side{kern, bpf}
	for _, sd := range sides {
		sd.f.Exec(t, "ip", "-6", "route", "add", "unreachable", "fd00:198:66::/64")
		sd.f.Exec(t, "ip", "-6", "route", "add", "local", "fd00:198:68::/64", "dev", "lo")
		sd.f.Exec(t, "ip", "-6", "route", "add", "fd00:198:6b::/64", "dev", sd.ifIn)
		sd.f.Exec(t, "ip", "-6", "addr", "add", "fd00:198:69::1/128", "dev", "lo")
		// Neighbours resolved before the comparison: a router still
		// resolving R's addresses drops what it forwards.
		for i := 2; i <= 6; i++ {
			a := sd.recv6.As16()
			a[15] = byte(i)
			// The first echo may go while the router resolves the
			// neighbour; a few tries, bounded.
			for try := 0; try < 5; try++ {
				if _, err := sd.s.Run("ping", "-6", "-c", "1", "-W", "1", netip.AddrFrom16(a).String()); err == nil {
					break
				}
			}
		}
	}
	kern.loadKernel(t, "", at6Forward)
	bpf.loadBpfilter(t, "", at6Forward)
	r := rand.New(rand.NewPCG(23, 7))
	probes := randomProbes(r, 300, true, 0, kern.recv4, kern.recv6)
	for _, s := range at6Addrs {
		src := netip.MustParseAddr(s)
		for _, h := range []l4{{proto: 6, sport: 1000, dport: 80, tcpFlags: 0x02}, {proto: 17, sport: 1000, dport: 53}, {proto: 17, sport: 1000, dport: 80}, {proto: 58, icmpType: 128}} {
			m := markerFor(uint32(len(probes)))
			probes = append(probes, probe{v6: true, marker: m, ip: ipPacket(src, kern.recv6, h.proto, 64, h.encode(src, kern.recv6, m)), desc: describe(src, kern.recv6, h, 64)})
		}
	}
	compareDeliveries(t, probes, deliver(t, sides, probes))
}

// TestDiffAddrtype6NewAddress: an IPv6 address added to R after the
// rulesets are loaded changes both sides' verdicts the same way, within a
// bound; a route removed changes them back to UNREACHABLE.
func TestDiffAddrtype6NewAddress(t *testing.T) {
	requireEnv(t)
	kern, bpf := newSide(t, "iptables-legacy"), newSide(t, "bpfilter")
	rules := "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n" +
		"-A OUTPUT -p udp -m addrtype --dst-type LOCAL -m udp --dport 1001 -j DROP\n" +
		"-A INPUT -p udp -m addrtype --src-type UNREACHABLE -m udp --dport 1002 -j DROP\nCOMMIT\n"
	kern.loadKernel(t, "", rules)
	bpf.loadBpfilter(t, "", rules)
	const addr = "fd00:198:77::7"
	for _, sd := range []*side{kern, bpf} {
		sd.r.Exec(t, "ip", "-6", "route", "add", "default", "via", "fd00:198:18::1")
		if o := sd.outputOutcomes6(t, []string{addr}, []uint16{1001})["["+addr+"]:1001"]; o != "sent" {
			t.Fatalf("%s: send to %s before it is local: %s", sd.name, addr, o)
		}
		sd.r.Exec(t, "ip", "-6", "addr", "add", addr+"/128", "dev", "lo")
	}
	for _, sd := range []*side{kern, bpf} {
		start := time.Now()
		for sd.outputOutcomes6(t, []string{addr}, []uint16{1001})["["+addr+"]:1001"] != "dropped" {
			if time.Since(start) > 2*time.Second {
				t.Fatalf("%s: %s not dropped within 2s of becoming local", sd.name, addr)
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Logf("%s: verdict changed after %v", sd.name, time.Since(start))
	}
	// The default route goes: sources outside the link become
	// UNREACHABLE, and the INPUT rule drops them.
	src := netip.MustParseAddr("fd00:198:99::1")
	for _, sd := range []*side{kern, bpf} {
		sd.r.Exec(t, "ip", "-6", "route", "del", "default")
	}
	var probes []probe
	for i := 0; i < 40; i++ {
		h := l4{proto: 17, sport: 4000, dport: 1002}
		m := markerFor(uint32(len(probes)))
		probes = append(probes, probe{v6: true, marker: m, ip: ipPacket(src, kern.recv6, 17, 64, h.encode(src, kern.recv6, m)), desc: describe(src, kern.recv6, h, 64)})
		if i == 0 {
			time.Sleep(200 * time.Millisecond) // the mirror's notification delay, with margin
		}
	}
	got := deliver(t, []*side{kern, bpf}, probes)
	for i, p := range probes {
		if got[0][uint32(i)] || got[1][uint32(i)] {
			t.Errorf("%s: delivered (iptables-legacy %v, bpfilter %v) although its source has no route", p.desc, got[0][uint32(i)], got[1][uint32(i)])
		}
	}
}

// netInterfaceByName returns the index of the named interface in the
// current namespace.
func netInterfaceByName(name string) (int, error) {
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		return 0, err
	}
	return ifc.Index, nil
}
