package iptdiff

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bpfilter-go/bpfilter/engine"
	"github.com/bpfilter-go/bpfilter/engine/localroutes"
)

// fillAddrTypes keeps the address type map of ch (if any) filled from
// F's routes for the rest of the test, as the daemon does.
func (sd *side) fillAddrTypes(t *testing.T, ch *engine.Chain) error {
	m := ch.AddrTypeMap()
	if m == nil {
		return nil
	}
	if sd.mirror == nil {
		mir, err := localroutes.Start(sd.f.Do, localroutes.Options{})
		if err != nil {
			return err
		}
		sd.mirror = mir
		t.Cleanup(func() { mir.Close() })
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("%s: address type mirror: last error %v, IPv6 warning %q, IPv6 entries %+v", sd.name, mir.Err(), mir.Warning6(), mir.Table6())
			}
		})
	}
	if err := sd.mirror.Add(m); err != nil {
		return err
	}
	if m6 := ch.AddrType6Map(); m6 != nil {
		return sd.mirror.Add(m6)
	}
	return nil
}

// Addresses of the addrtype probes: R's own (on the link and, 198.18.99.1,
// on loopback), the link's broadcast, the limited broadcast, all-hosts
// multicast, and a source of 0.0.0.0 (DHCP-style, BROADCAST type).
var (
	atLoopbackAddr = netip.MustParseAddr("198.18.99.1")
	atDsts4        = []string{"198.18.0.2", "198.18.0.5", "198.18.0.255", "255.255.255.255", "224.0.0.1", "198.18.99.1"}
	atSrcs4        = []string{"198.18.0.1", "198.18.0.9", "0.0.0.0"}
	atDsts6        = []string{"fd00:198:18::2", "fd00:198:18::5", "ff02::1"}
	atSrcs6        = []string{"fd00:198:18::1", "::"}
)

const atInputV4 = `*filter
:INPUT DROP [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p udp -m addrtype --src-type BROADCAST --dst-type BROADCAST -m udp --dport 67 -j ACCEPT
-A INPUT -p udp -m addrtype --dst-type BROADCAST -m udp --dport 53 -j ACCEPT
-A INPUT -p icmp -m addrtype --dst-type MULTICAST -j ACCEPT
-A INPUT -p tcp -m addrtype --dst-type LOCAL --limit-iface-in -j ACCEPT
-A INPUT -p udp -m addrtype ! --dst-type LOCAL -j DROP
-A INPUT -p udp -m addrtype --src-type UNICAST --dst-type LOCAL,BROADCAST -m udp --dport 80 -j ACCEPT
-A INPUT -p icmp -m addrtype --dst-type LOCAL -j ACCEPT
COMMIT
`

const atInputV6 = `*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p udp -m addrtype --dst-type MULTICAST -j DROP
-A INPUT -p tcp -m addrtype ! --src-type UNICAST -j DROP
-A INPUT -p udp -m addrtype --dst-type UNICAST,MULTICAST -j DROP
-A INPUT -p tcp -m addrtype --dst-type UNICAST --limit-iface-in -m tcp --dport 80 -j DROP
COMMIT
`

// atProbes crafts every combination of addrtype source and destination
// addresses with TCP, UDP and ICMP headers.
func atProbes() []probe {
	var out []probe
	add := func(src, dst netip.Addr, h l4) {
		m := markerFor(uint32(len(out)))
		p := probe{v6: src.Is6(), marker: m, ip: ipPacket(src, dst, h.proto, 64, h.encode(src, dst, m))}
		p.desc = describe(src, dst, h, 64)
		out = append(out, p)
	}
	for _, fam := range []struct {
		srcs, dsts []string
		icmp       l4
	}{{atSrcs4, atDsts4, l4{proto: 1, icmpType: 8}}, {atSrcs6, atDsts6, l4{proto: 58, icmpType: 128}}} {
		for _, s := range fam.srcs {
			for _, d := range fam.dsts {
				src, dst := netip.MustParseAddr(s), netip.MustParseAddr(d)
				for _, h := range []l4{{proto: 6, sport: 1000, dport: 80, tcpFlags: 0x02}, {proto: 17, sport: 68, dport: 67},
					{proto: 17, sport: 1000, dport: 53}, {proto: 17, sport: 1000, dport: 80}, fam.icmp} {
					add(src, dst, h)
				}
			}
		}
	}
	return out
}

// TestDiffAddrtype sends packets to local, broadcast, multicast and
// loopback-held addresses of R through an INPUT ruleset of addrtype
// matches, loaded with iptables-legacy on one side and bpfilter on the
// other: same deliveries.
func TestDiffAddrtype(t *testing.T) {
	requireEnv(t)
	kern, bpf := newSide(t, "iptables-legacy"), newSide(t, "bpfilter")
	sides := []*side{kern, bpf}
	for _, sd := range sides {
		sd.r.Exec(t, "ip", "addr", "add", atLoopbackAddr.String()+"/32", "dev", "lo")
	}
	kern.loadKernel(t, atInputV4, atInputV6)
	bpf.loadBpfilter(t, atInputV4, atInputV6)
	probes := atProbes()
	got := deliver(t, sides, probes)
	bad, delivered := 0, 0
	for i, p := range probes {
		id := uint32(i)
		if got[0][id] {
			delivered++
		}
		if got[0][id] != got[1][id] {
			bad++
			t.Errorf("%s: iptables-legacy delivered=%v, bpfilter delivered=%v", p.desc, got[0][id], got[1][id])
		}
	}
	t.Logf("%d probes, %d delivered by iptables-legacy, %d differences", len(probes), delivered, bad)
	if delivered == 0 || delivered == len(probes) {
		t.Errorf("the ruleset delivered %d of %d probes: the comparison tests nothing", delivered, len(probes))
	}
}

const atForwardV4 = `*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A FORWARD -p tcp -m addrtype --dst-type UNICAST --limit-iface-out -m tcp --dport 80 -j DROP
-A FORWARD -p udp -m addrtype ! --src-type UNICAST --limit-iface-in -j DROP
-A FORWARD -m addrtype --dst-type LOCAL -j DROP
-A FORWARD -p icmp -m addrtype --src-type UNICAST --dst-type UNICAST -j DROP
COMMIT
`

// TestDiffAddrtypeForward compares random traffic through a router whose
// FORWARD chain matches address types with interface limits.
func TestDiffAddrtypeForward(t *testing.T) {
	if bad := differencesMode(t, true, atForwardV4, "", atForwardV4, "", 300, 21, true); bad != 0 {
		t.Errorf("%d packets got different verdicts", bad)
	}
}

const atOutputV4 = `*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A OUTPUT -p udp -m addrtype --src-type LOCAL --dst-type LOCAL -m udp --dport 1001 -j DROP
-A OUTPUT -p udp -m addrtype --dst-type BROADCAST -m udp --dport 1002 -j DROP
-A OUTPUT -p udp -m addrtype ! --dst-type UNICAST --limit-iface-out -m udp --dport 1003 -j DROP
-A OUTPUT -p udp -m addrtype --dst-type MULTICAST -m udp --dport 1004 -j DROP
-A OUTPUT -p udp -m addrtype --dst-type LOCAL --limit-iface-out -m udp --dport 1005 -j DROP
COMMIT
`

// outputOutcomes sends one UDP datagram from F to every destination and
// port and returns each send's outcome: "sent", "dropped" (EPERM: dropped
// on OUTPUT) or the error a route lookup gave before the hook.
func (sd *side) outputOutcomes(t *testing.T, dsts []string, ports []uint16) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := sd.f.Do(func() error {
		for _, d := range dsts {
			for _, port := range ports {
				fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
				if err != nil {
					return err
				}
				if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_BROADCAST, 1); err != nil {
					unix.Close(fd)
					return err
				}
				a := netip.MustParseAddr(d).As4()
				err = unix.Sendto(fd, []byte("addrtype"), 0, &unix.SockaddrInet4{Port: int(port), Addr: a})
				unix.Close(fd)
				out[fmt.Sprintf("%s:%d", d, port)] = sendOutcome(err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%s: %v", sd.name, err)
	}
	return out
}

// outputDrops is outputOutcomes for destinations that route: it fails
// on other errors and reports which sends were dropped.
func (sd *side) outputDrops(t *testing.T, dsts []string, ports []uint16) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for key, o := range sd.outputOutcomes(t, dsts, ports) {
		if o != "sent" && o != "dropped" {
			t.Fatalf("%s: send to %s: %s", sd.name, key, o)
		}
		out[key] = o == "dropped"
	}
	return out
}

// TestDiffAddrtypeOutput sends datagrams from F itself to local,
// loopback-held, broadcast, multicast and remote addresses through an
// OUTPUT ruleset (source and destination types, interface limits), on
// iptables-legacy and bpfilter: the same sends are dropped.
func TestDiffAddrtypeOutput(t *testing.T) {
	requireEnv(t)
	kern, bpf := newSide(t, "iptables-legacy"), newSide(t, "bpfilter")
	for _, sd := range []*side{kern, bpf} {
		sd.r.Exec(t, "ip", "addr", "add", atLoopbackAddr.String()+"/32", "dev", "lo")
		sd.r.Exec(t, "ip", "route", "add", "default", "via", senderV4.String())
	}
	kern.loadKernel(t, atOutputV4, "")
	bpf.loadBpfilter(t, atOutputV4, "")
	dsts := []string{"198.18.0.2", "198.18.0.5", "198.18.99.1", "127.0.0.1", "198.18.0.255", "255.255.255.255",
		"224.0.0.1", "239.1.2.3", "198.18.0.1", "198.18.50.7"}
	ports := []uint16{1001, 1002, 1003, 1004, 1005, 1006}
	k, b := kern.outputDrops(t, dsts, ports), bpf.outputDrops(t, dsts, ports)
	drops := 0
	for key, kd := range k {
		if kd {
			drops++
		}
		if b[key] != kd {
			t.Errorf("UDP to %s: iptables-legacy dropped=%v, bpfilter dropped=%v", key, kd, b[key])
		}
	}
	t.Logf("%d sends, %d dropped by iptables-legacy", len(k), drops)
	if drops == 0 || drops == len(k) {
		t.Errorf("%d of %d sends dropped: the comparison tests nothing", drops, len(k))
	}
}

// TestDiffAddrtypeNewAddress: an address added to R after the rulesets
// are loaded changes both sides' verdicts the same way, within a bound.
func TestDiffAddrtypeNewAddress(t *testing.T) {
	requireEnv(t)
	kern, bpf := newSide(t, "iptables-legacy"), newSide(t, "bpfilter")
	rules := "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n" +
		"-A OUTPUT -p udp -m addrtype --dst-type LOCAL -m udp --dport 1001 -j DROP\nCOMMIT\n"
	kern.loadKernel(t, rules, "")
	bpf.loadBpfilter(t, rules, "")
	const addr = "198.18.77.7"
	dst := []string{addr}
	for _, sd := range []*side{kern, bpf} {
		sd.r.Exec(t, "ip", "route", "add", "default", "via", senderV4.String())
		if sd.outputDrops(t, dst, []uint16{1001})[addr+":1001"] {
			t.Fatalf("%s: %s dropped before it is local", sd.name, addr)
		}
		sd.r.Exec(t, "ip", "addr", "add", addr+"/32", "dev", "lo")
	}
	for _, sd := range []*side{kern, bpf} {
		start := time.Now()
		for !sd.outputDrops(t, dst, []uint16{1001})[addr+":1001"] {
			if time.Since(start) > 2*time.Second {
				t.Fatalf("%s: %s not dropped within 2s of becoming local", sd.name, addr)
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Logf("%s: verdict changed after %v", sd.name, time.Since(start))
	}
}

// atRoutes are routes of every type in R's local table (and, merged with
// it while no policy rule exists, the main table), whose prefixes the
// source addresses of TestDiffAddrtypeRouteTypes come from.
var atRoutes = [][]string{
	{"blackhole", "198.18.66.0/24", "table", "local"},
	{"unreachable", "198.18.66.128/25", "table", "local"},
	{"anycast", "198.18.67.1", "dev", "lo", "table", "local"},
	{"local", "198.18.68.0/24", "dev", "lo", "table", "main"},
	{"198.18.68.128/25", "dev", "lo", "table", "main"},
	{"broadcast", "198.18.69.1", "dev", "lo", "table", "local"},
	{"throw", "198.18.70.0/24", "table", "local"},
	{"prohibit", "198.18.71.0/24", "table", "local"},
	{"multicast", "198.18.72.0/24", "dev", "lo", "table", "local"},
	{"local", "198.18.73.0/24", "dev", "lo", "tos", "0x10", "table", "local"},
}

var atRouteSrcs = []string{"198.18.66.5", "198.18.66.200", "198.18.67.1", "198.18.68.5", "198.18.68.200",
	"198.18.69.1", "198.18.70.5", "198.18.71.5", "198.18.72.5", "198.18.73.5", "198.18.0.1", "198.18.0.2"}

// TestDiffAddrtypeRouteTypes gives R routes of every type (error types,
// anycast, broadcast, multicast, a TOS route, main-table routes seen
// through the merged tries) and sends packets from addresses they cover,
// through rules testing every source type with and without
// --limit-iface-in.
func TestDiffAddrtypeRouteTypes(t *testing.T) {
	requireEnv(t)
	kern, bpf := newSide(t, "iptables-legacy"), newSide(t, "bpfilter")
	var rules strings.Builder
	rules.WriteString("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n")
	var ports, outPorts []uint16
	for i, name := range []string{"UNSPEC", "UNICAST", "LOCAL", "BROADCAST", "ANYCAST", "MULTICAST", "BLACKHOLE", "UNREACHABLE", "PROHIBIT", "THROW", "NAT", "XRESOLVE"} {
		fmt.Fprintf(&rules, "-A INPUT -p udp -m udp --dport %d -m addrtype --src-type %s -j DROP\n", 1000+i, name)
		fmt.Fprintf(&rules, "-A INPUT -p udp -m udp --dport %d -m addrtype --src-type %s --limit-iface-in -j DROP\n", 2000+i, name)
		ports = append(ports, uint16(1000+i), uint16(2000+i))
	}
	for i, name := range []string{"UNSPEC", "UNICAST", "LOCAL", "BROADCAST", "ANYCAST", "MULTICAST", "BLACKHOLE", "UNREACHABLE", "PROHIBIT", "THROW", "NAT", "XRESOLVE"} {
		fmt.Fprintf(&rules, "-A OUTPUT -p udp -m udp --dport %d -m addrtype --dst-type %s -j DROP\n", 3000+i, name)
		fmt.Fprintf(&rules, "-A OUTPUT -p udp -m udp --dport %d -m addrtype --dst-type %s --limit-iface-out -j DROP\n", 4000+i, name)
		outPorts = append(outPorts, uint16(3000+i), uint16(4000+i))
	}
	rules.WriteString("COMMIT\n")
	for _, sd := range []*side{kern, bpf} {
		sd.r.Exec(t, "ip", "route", "add", "default", "via", senderV4.String())
		for _, r := range atRoutes {
			sd.r.Exec(t, append([]string{"ip", "route", "add"}, r...)...)
		}
	}
	kern.loadKernel(t, rules.String(), "")
	bpf.loadBpfilter(t, rules.String(), "")
	var probes []probe
	for _, s := range atRouteSrcs {
		src, dst := netip.MustParseAddr(s), recvV4
		for _, port := range ports {
			h := l4{proto: 17, sport: 4000, dport: port}
			m := markerFor(uint32(len(probes)))
			probes = append(probes, probe{marker: m, ip: ipPacket(src, dst, 17, 64, h.encode(src, dst, m)), desc: describe(src, dst, h, 64)})
		}
	}
	got := deliver(t, []*side{kern, bpf}, probes)
	bad, delivered := 0, 0
	for i, p := range probes {
		if got[0][uint32(i)] {
			delivered++
		}
		if got[0][uint32(i)] != got[1][uint32(i)] {
			bad++
			t.Errorf("%s: iptables-legacy delivered=%v, bpfilter delivered=%v", p.desc, got[0][uint32(i)], got[1][uint32(i)])
		}
	}
	t.Logf("%d probes, %d delivered by iptables-legacy, %d differences", len(probes), delivered, bad)
	if delivered == 0 || delivered == len(probes) {
		t.Errorf("the ruleset delivered %d of %d probes: the comparison tests nothing", delivered, len(probes))
	}
	// Destinations in those prefixes, sent from R itself through OUTPUT.
	k, b := kern.outputOutcomes(t, atRouteSrcs, outPorts), bpf.outputOutcomes(t, atRouteSrcs, outPorts)
	drops := map[string]int{}
	for key, o := range k {
		if o == "dropped" {
			drops[strings.Split(key, ":")[0]]++
		}
		if b[key] != o {
			t.Errorf("UDP to %s: iptables-legacy %s, bpfilter %s", key, o, b[key])
		}
	}
	t.Logf("OUTPUT drops by destination (iptables-legacy): %v", drops)
	if len(drops) < 5 {
		t.Errorf("only %d destinations had drops on OUTPUT: the comparison tests little", len(drops))
	}
}

// sendOutcome names the result of a send from F: "sent", "dropped" (EPERM:
// dropped on OUTPUT) or the error a route lookup gave before the hook.
func sendOutcome(err error) string {
	switch {
	case err == nil:
		return "sent"
	case errors.Is(err, syscall.EPERM):
		return "dropped"
	}
	return err.Error()
}
