package iptdiff

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bpfilter-go/bpfilter/compat/iptables"
	"github.com/bpfilter-go/bpfilter/engine"
	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
	"github.com/bpfilter-go/bpfilter/frontends/iptables/translate"
	"github.com/bpfilter-go/bpfilter/internal/testenv"
)

// The hotdrop differential (hotdrop_test.go) runs on one routed topology
// per side, S ── F ── R (testenv.NewRouted), with the ruleset in F:
//
//   - INPUT probes go from S to F's extra addresses 198.18.0.21-24; an
//     nftables chain of F at input priority 1000 (after iptables' filter
//     at 0 and bpfilter's links at -2/-1) records the IPv4 ID / IPv6 flow
//     label of every probe that got through;
//   - FORWARD probes go from S to R's extra addresses 198.18.1.31-34; an
//     AF_PACKET socket in R sees the ones F forwarded;
//   - OUTPUT probes are sent by F itself on IPPROTO_RAW sockets (header
//     included) to S's extra addresses 198.18.0.11-14: EPERM = dropped.
//
// Probes are sent one at a time, each followed (INPUT, FORWARD) by a
// fence: a complete UDP datagram with a payload marker that no rule
// matches, sent the same way from a thread pinned to one CPU, so it is
// queued behind the probe on the same backlog. Once the fence is seen
// the probe has been through F, and the difference of F's rule counters
// before and after is the probe's own. Every probe carries a wrong
// transport checksum, so nothing answers it and no other packet touches
// the rules (they all name a probe destination); F has permanent
// neighbour entries, so it sends no ARP or neighbour discovery either.

// Subnet numbers and host bytes of the probe destinations per hook (IPv6:
// the same digits in fd00:198:18:<subnet>::<host>).
var hdHookDst = map[string]struct {
	subnet int
	base   int
}{"INPUT": {0, 20}, "OUTPUT": {0, 10}, "FORWARD": {1, 30}}

// hdDst is the destination of the probes of group g (1-hdGroups) in hook.
func hdDst(hook string, g int, v6 bool) netip.Addr {
	d := hdHookDst[hook]
	if v6 {
		return netip.MustParseAddr(fmt.Sprintf("fd00:198:18:%d::%d", d.subnet, d.base+g))
	}
	return netip.AddrFrom4([4]byte{198, 18, byte(d.subnet), byte(d.base + g)})
}

// Fixed addresses of the topology (testenv.NewRouted).
var (
	hdS4, hdS6 = netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("fd00:198:18:0::1")
	hdF4, hdF6 = netip.MustParseAddr("198.18.0.2"), netip.MustParseAddr("fd00:198:18:0::2")
	hdR4, hdR6 = netip.MustParseAddr("198.18.1.2"), netip.MustParseAddr("fd00:198:18:1::2")
)

// hdSide is one topology with one implementation in F.
type hdSide struct {
	name   string
	kernel bool // iptables-legacy; else bpfilter
	rt     *testenv.Routed
	fMAC   net.HardwareAddr // F's interface towards S
	sendFD int              // AF_PACKET socket in S
	// out4 and out6 are IPPROTO_RAW sockets in F (OUTPUT probes); fence4
	// and fence6 raw UDP sockets in F (INPUT fences); tap an AF_PACKET
	// socket in R on the link from F (FORWARD probes and fences).
	out4, out6, fence4, fence6, tap int
	// chains are bpfilter's loaded builtin chains by "4/INPUT" etc.;
	// user names the IR chain of each iptables user chain ("4/hd").
	chains map[string]*engine.Chain
	user   map[string]string
}

// newHdSide builds a topology, its addresses, neighbours, observer and
// sockets; everything goes away with the test.
func newHdSide(t *testing.T, name string, kernel bool) *hdSide {
	t.Helper()
	sd := &hdSide{name: name, kernel: kernel, rt: testenv.NewRouted(t), chains: map[string]*engine.Chain{}, user: map[string]string{}}
	s, f, r := sd.rt.Client, sd.rt.Router, sd.rt.Server
	left, right := sd.rt.Left, sd.rt.Right
	macs := map[string]net.HardwareAddr{}
	for _, x := range []struct {
		ns  *testenv.Netns
		dev string
	}{{s, left.NameA}, {f, left.NameB}, {r, right.NameB}} {
		err := x.ns.Do(func() error {
			ifc, err := net.InterfaceByName(x.dev)
			if err == nil {
				macs[x.dev] = ifc.HardwareAddr
			}
			return err
		})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	sd.fMAC = macs[left.NameB]
	for g := 1; g <= hdGroups; g++ {
		for _, v6 := range []bool{false, true} {
			for _, h := range []struct {
				hook string
				ns   *testenv.Netns
				dev  string
				// F's interface and the owner's MAC for a permanent
				// neighbour entry in F ("" for F's own addresses).
				fdev string
				mac  net.HardwareAddr
			}{{"INPUT", f, left.NameB, "", nil}, {"OUTPUT", s, left.NameA, left.NameB, macs[left.NameA]}, {"FORWARD", r, right.NameB, right.NameA, macs[right.NameB]}} {
				a := hdDst(h.hook, g, v6)
				if v6 {
					h.ns.Exec(t, "ip", "-6", "addr", "add", a.String()+"/64", "dev", h.dev, "nodad")
				} else {
					h.ns.Exec(t, "ip", "addr", "add", a.String()+"/24", "dev", h.dev)
				}
				if h.fdev != "" {
					f.Exec(t, "ip", "neigh", "replace", a.String(), "lladdr", h.mac.String(), "dev", h.fdev, "nud", "permanent")
				}
			}
		}
	}
	for _, a := range []netip.Addr{hdS4, hdS6} {
		f.Exec(t, "ip", "neigh", "replace", a.String(), "lladdr", macs[left.NameA].String(), "dev", left.NameB, "nud", "permanent")
	}
	for _, a := range []netip.Addr{hdR4, hdR6} {
		f.Exec(t, "ip", "neigh", "replace", a.String(), "lladdr", macs[right.NameB].String(), "dev", right.NameA, "nud", "permanent")
	}
	cmd := exec.Command("ip", "netns", "exec", f.Name, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(hdObserver())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: nft observer: %v: %s", name, err, out)
	}
	var fds []int
	t.Cleanup(func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	})
	open := func(ns *testenv.Netns, dst *int, fam, typ, proto int) {
		err := ns.Do(func() error {
			fd, err := unix.Socket(fam, typ|unix.SOCK_CLOEXEC, proto)
			if err != nil {
				return fmt.Errorf("socket %d/%d/%d: %w", fam, typ, proto, err)
			}
			fds = append(fds, fd)
			*dst = fd
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	open(s, &sd.sendFD, unix.AF_PACKET, unix.SOCK_RAW, 0)
	open(f, &sd.out4, unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_RAW)
	open(f, &sd.out6, unix.AF_INET6, unix.SOCK_RAW, unix.IPPROTO_RAW)
	open(f, &sd.fence4, unix.AF_INET, unix.SOCK_RAW|unix.SOCK_NONBLOCK, unix.IPPROTO_UDP)
	open(f, &sd.fence6, unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_NONBLOCK, unix.IPPROTO_UDP)
	open(r, &sd.tap, unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK, int(htons(unix.ETH_P_ALL)))
	if err := unix.Bind(sd.tap, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: right.IfindexB}); err != nil {
		t.Fatalf("%s: bind packet socket: %v", name, err)
	}
	for _, fd := range []int{sd.fence4, sd.fence6, sd.tap} {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20); err != nil {
			t.Fatalf("%s: SO_RCVBUFFORCE: %v", name, err)
		}
	}
	return sd
}

// load puts the restore texts in force in F: with iptables-legacy-restore
// on the kernel side, translated and loaded by the engine on the other.
func (sd *hdSide) load(t *testing.T, v4, v6 string) {
	t.Helper()
	f := sd.rt.Router
	if sd.kernel {
		for _, x := range []struct{ cmd, text string }{{"iptables-legacy-restore", v4}, {"ip6tables-legacy-restore", v6}} {
			cmd := exec.Command("ip", "netns", "exec", f.Name, x.cmd)
			cmd.Stdin = strings.NewReader(x.text)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s: %v: %s", x.cmd, err, out)
			}
		}
		return
	}
	for _, x := range []struct {
		fam  abi.Family
		key  string
		text string
		prio [2]int32
	}{{abi.IPv4, "4", v4, translate.DefaultPriorities}, {abi.IPv6, "6", v6, [2]int32{-4, -3}}} {
		ts := iptables.NewTables(x.fam)
		if err := ts.Restore(strings.NewReader(x.text), iptables.RestoreOptions{}); err != nil {
			t.Fatalf("restore %s: %v", x.fam, err)
		}
		tb, err := ts.Table("filter")
		if err != nil {
			t.Fatal(err)
		}
		rs, err := translate.Table(tb, translate.Options{RuleText: iptables.RuleString, Priorities: x.prio})
		if err != nil {
			t.Fatalf("translate %s: %v", x.fam, err)
		}
		n := hdRuleCounts(x.text)
		for _, c := range rs.Chains {
			// counters maps IR rule i of a builtin chain to iptables rule
			// i (rule 0 is the translator's family guard), and IR rule i
			// of a user chain to iptables rule i+1.
			guard := 1
			if c.User {
				guard = 0
			}
			if len(c.Rules) != n[c.Origin.Text]+guard {
				t.Fatalf("translate %s: chain %s has %d IR rules for %d iptables rules: the counter mapping does not hold",
					x.fam, c.Origin.Text, len(c.Rules), n[c.Origin.Text])
			}
			if c.User {
				sd.user[x.key+"/"+c.Origin.Text] = c.Name
				continue
			}
			var ch *engine.Chain
			err := f.Do(func() error {
				var err error
				ch, err = engine.Load(c, engine.Options{Ruleset: rs})
				return err
			})
			if ch != nil {
				t.Cleanup(func() {
					if err := ch.Close(); err != nil {
						t.Errorf("%s: close %s: %v", sd.name, c.Name, err)
					}
				})
			}
			if err == nil {
				err = f.Do(func() error { return ch.Attach(c.HookOpts) })
			}
			if err != nil {
				t.Fatalf("%s: load %s: %v", sd.name, c.Name, err)
			}
			sd.chains[x.key+"/"+c.Origin.Text] = ch
		}
	}
}

// sendFrame puts one IP packet on the wire from S to F's MAC.
func (sd *hdSide) sendFrame(ip []byte, v6 bool) error {
	etype := uint16(unix.ETH_P_IP)
	if v6 {
		etype = unix.ETH_P_IPV6
	}
	frame := make([]byte, 14, 14+len(ip))
	copy(frame[0:6], sd.fMAC)
	copy(frame[6:12], []byte{0x02, 0, 0, 0, 0, 1})
	binary.BigEndian.PutUint16(frame[12:], etype)
	frame = append(frame, ip...)
	to := &unix.SockaddrLinklayer{Ifindex: sd.rt.Left.IfindexA, Protocol: htons(etype), Halen: 6}
	copy(to.Addr[:], sd.fMAC)
	if err := unix.Sendto(sd.sendFD, frame, 0, to); err != nil {
		return fmt.Errorf("%s: send frame: %w", sd.name, err)
	}
	return nil
}

// sendOutput sends ip from F on its IPPROTO_RAW socket and reports
// whether OUTPUT dropped it (EPERM).
func (sd *hdSide) sendOutput(ip []byte, dst netip.Addr) (dropped bool, err error) {
	if dst.Is4() {
		err = unix.Sendto(sd.out4, ip, 0, &unix.SockaddrInet4{Addr: dst.As4()})
	} else {
		err = unix.Sendto(sd.out6, ip, 0, &unix.SockaddrInet6{Addr: dst.As16()})
	}
	if errors.Is(err, unix.EPERM) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("%s: raw send from F to %s: %w", sd.name, dst, err)
	}
	return false, nil
}
