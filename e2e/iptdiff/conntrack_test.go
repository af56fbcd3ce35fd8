package iptdiff

import (
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bpfilter-go/bpfilter/compat/nfsemantics"
)

// enableConntrack keeps connection tracking active in R the way the
// daemon must for ct.state: a netfilter BPF program does not enable
// conntrack in its namespace, but any nftables expression using ct takes
// a reference on it (nf_ct_netns_get), even in a chain nothing calls, so
// it costs nothing per packet.
func (sd *side) enableConntrack(t *testing.T) {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", sd.f.Name, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(nfsemantics.ConntrackKeeper)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: enable conntrack with nft: %v: %s", sd.name, err, out)
	}
}

// Ports of the exchanges R starts.
const (
	rUDPPort = 5000
	sUDPPort = 6000
)

// startFlows makes R send one UDP datagram to S for each family, so that
// conntrack in R has a flow whose replies are ESTABLISHED and whose ICMP
// errors are RELATED.
func (sd *side) startFlows(t *testing.T) {
	t.Helper()
	err := sd.r.Do(func() error {
		for _, pair := range [][2]netip.Addr{{sd.recv4, senderV4}, {sd.recv6, senderV6}} {
			c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(pair[0], rUDPPort)),
				net.UDPAddrFromAddrPort(netip.AddrPortFrom(pair[1], sUDPPort)))
			if err != nil {
				return err
			}
			_, err = c.Write([]byte("flow"))
			c.Close()
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%s: start flows: %v", sd.name, err)
	}
}

// flowProbes are crafted packets from S belonging to the flows R started
// (replies: ESTABLISHED; ICMP port unreachable quoting R's datagram:
// RELATED) and to no flow (NEW).
func flowProbes(firstID uint32, recv4, recv6 netip.Addr) []probe {
	var out []probe
	id := firstID
	add := func(desc string, v6 bool, src, dst netip.Addr, proto uint8, seg []byte, m []byte) {
		out = append(out, probe{desc: desc, v6: v6, marker: m, ip: ipPacket(src, dst, proto, 64, seg)})
	}
	for _, fam := range []struct {
		v6       bool
		s, r     netip.Addr
		icmp     uint8
		unreach  [2]uint8
		fam, tag string
	}{{false, senderV4, recv4, 1, [2]uint8{3, 3}, "v4", ""}, {true, senderV6, recv6, 58, [2]uint8{1, 4}, "v6", ""}} {
		for _, x := range []struct {
			desc         string
			sport, dport uint16
		}{{"reply (ESTABLISHED)", sUDPPort, rUDPPort}, {"other source port (NEW)", sUDPPort + 1, rUDPPort}} {
			m := markerFor(id)
			id++
			add(fmt.Sprintf("%s udp %s", fam.fam, x.desc), fam.v6, fam.s, fam.r, 17, l4{proto: 17, sport: x.sport, dport: x.dport}.encode(fam.s, fam.r, m), m)
		}
		// The quoted datagram: R's header and UDP header, then the marker.
		m := markerFor(id)
		id++
		inner := ipPacket(fam.r, fam.s, 17, 64, l4{proto: 17, sport: rUDPPort, dport: sUDPPort}.encode(fam.r, fam.s, []byte("flow")))
		seg := l4{proto: fam.icmp, icmpType: fam.unreach[0], icmpCode: fam.unreach[1]}.encode(fam.s, fam.r, append(inner, m...))
		add(fmt.Sprintf("%s icmp port unreachable for R's flow (RELATED)", fam.fam), fam.v6, fam.s, fam.r, fam.icmp, seg, m)
	}
	return out
}

// tcpConnects makes S open TCP connections to R's listening ports on both
// sides at once and send a marker on each; it returns the probes (for the
// report) and relies on drain to see which markers R received.
func tcpConnects(t *testing.T, sides []*side, ports []uint16, firstID uint32) []probe {
	t.Helper()
	var probes []probe
	type conn struct {
		addr netip.AddrPort
		m    []byte
	}
	var conns []conn
	id := firstID
	for _, dst := range []netip.Addr{sides[0].recv4, sides[0].recv6} {
		for _, p := range ports {
			m := markerFor(id)
			id++
			conns = append(conns, conn{netip.AddrPortFrom(dst, p), m})
			probes = append(probes, probe{desc: fmt.Sprintf("TCP connection to %s with data", netip.AddrPortFrom(dst, p)), v6: dst.Is6(), marker: m})
		}
	}
	for _, sd := range sides {
		err := sd.r.Do(func() error {
			for _, c := range conns {
				l, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(c.addr))
				if err != nil {
					return err
				}
				t.Cleanup(func() { l.Close() })
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s: listen: %v", sd.name, err)
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, len(sides))
	for i, sd := range sides {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = sd.s.Do(func() error {
				for _, c := range conns {
					nc, err := net.DialTimeout("tcp", c.addr.String(), 700*time.Millisecond)
					if err != nil {
						continue // refused by the ruleset: the marker is not delivered
					}
					_, err = nc.Write(c.m)
					nc.Close()
					if err != nil {
						return err
					}
				}
				return nil
			})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("%s: tcp connections: %v", sides[i].name, err)
		}
	}
	return probes
}

// Flows of the conntrack options test: R sends one UDP datagram from each
// of ctFlowSports to each of ctFlowDports on S, per family.
var (
	ctFlowSports = []uint16{5000, 5001, 5002, 5003}
	ctFlowDports = []uint16{6000, 6001}
)

// startCtFlows makes R open the flows of ctFlowSports × ctFlowDports.
func (sd *side) startCtFlows(t *testing.T) {
	t.Helper()
	err := sd.r.Do(func() error {
		for _, pair := range [][2]netip.Addr{{sd.recv4, senderV4}, {sd.recv6, senderV6}} {
			for _, sp := range ctFlowSports {
				for _, dp := range ctFlowDports {
					c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(pair[0], sp)),
						net.UDPAddrFromAddrPort(netip.AddrPortFrom(pair[1], dp)))
					if err != nil {
						return err
					}
					_, err = c.Write([]byte("flow"))
					c.Close()
					if err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%s: start flows: %v", sd.name, err)
	}
}

// ctFlowProbes are packets from S for R's flows: for each flow two
// replies (the first finds the entry without SEEN_REPLY, the second with
// it; both are in the REPLY direction), an ICMP error quoting R's datagram
// (RELATED), and a datagram from another source port (NEW, ORIGINAL).
func ctFlowProbes(firstID uint32, recv4, recv6 netip.Addr) []probe {
	var out []probe
	id := firstID
	add := func(desc string, v6 bool, src, dst netip.Addr, proto uint8, seg []byte, m []byte) {
		out = append(out, probe{desc: desc, v6: v6, marker: m, ip: ipPacket(src, dst, proto, 64, seg)})
		id++
	}
	for _, fam := range []struct {
		v6      bool
		s, r    netip.Addr
		icmp    uint8
		unreach [2]uint8
		name    string
	}{{false, senderV4, recv4, 1, [2]uint8{3, 3}, "v4"}, {true, senderV6, recv6, 58, [2]uint8{1, 4}, "v6"}} {
		for _, rp := range ctFlowSports {
			for _, sp := range ctFlowDports {
				for n := 1; n <= 2; n++ {
					m := markerFor(id)
					add(fmt.Sprintf("%s udp reply %d %d > %d", fam.name, n, sp, rp), fam.v6, fam.s, fam.r, 17,
						l4{proto: 17, sport: sp, dport: rp}.encode(fam.s, fam.r, m), m)
				}
				m := markerFor(id)
				inner := ipPacket(fam.r, fam.s, 17, 64, l4{proto: 17, sport: rp, dport: sp}.encode(fam.r, fam.s, []byte("flow")))
				seg := l4{proto: fam.icmp, icmpType: fam.unreach[0], icmpCode: fam.unreach[1]}.encode(fam.s, fam.r, append(inner, m...))
				add(fmt.Sprintf("%s icmp error for %d > %d", fam.name, rp, sp), fam.v6, fam.s, fam.r, fam.icmp, seg, m)
			}
			m := markerFor(id)
			add(fmt.Sprintf("%s udp new 7777 > %d", fam.name, rp), fam.v6, fam.s, fam.r, 17,
				l4{proto: 17, sport: 7777, dport: rp}.encode(fam.s, fam.r, m), m)
		}
	}
	return out
}
