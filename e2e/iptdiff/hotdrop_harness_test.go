package iptdiff

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

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

// hdDst is the destination of the probes of group g (1-4) in hook.
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
	for g := 1; g <= 4; g++ {
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

// hdObserver is the nftables table recording the INPUT probes F let
// through, after every filter.
func hdObserver() string {
	return fmt.Sprintf(`table inet bfhdobs {
	set seen4 { typeof ip id; flags dynamic; size 65535; }
	set seen6 { typeof ip6 flowlabel; flags dynamic; size 65535; }
	chain in {
		type filter hook input priority 1000; policy accept;
		ip saddr %s ip daddr %s-%s add @seen4 { ip id }
		ip6 saddr %s ip6 daddr %s-%s add @seen6 { ip6 flowlabel }
	}
}
`, hdS4, hdDst("INPUT", 1, false), hdDst("INPUT", 4, false), hdS6, hdDst("INPUT", 1, true), hdDst("INPUT", 4, true))
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
		for _, c := range rs.Chains {
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
				t.Cleanup(func() { ch.Close() })
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

// hdRule names a rule: its chain and 1-based position in it.
type hdRule struct {
	chain string
	n     int
}

func (r hdRule) String() string { return fmt.Sprintf("%s#%d", r.chain, r.n) }

// hdCounts holds rule counters: packets and bytes.
type hdCounts map[hdRule][2]uint64

// hdCount is what one rule's counters moved by.
type hdCount struct {
	rule           hdRule
	packets, bytes uint64
}

func (c hdCount) String() string { return fmt.Sprintf("%s +%d/%dB", c.rule, c.packets, c.bytes) }

// counters reads F's rule counters of one family.
func (sd *hdSide) counters(t *testing.T, v6 bool) hdCounts {
	t.Helper()
	if sd.kernel {
		cmd := "iptables-legacy-save"
		if v6 {
			cmd = "ip6tables-legacy-save"
		}
		out, err := sd.rt.Router.Run(cmd, "-c", "-t", "filter")
		if err != nil {
			t.Fatalf("%s: %v", sd.name, err)
		}
		cs, err := parseSaveCounters(out)
		if err != nil {
			t.Fatalf("%s: %s: %v", sd.name, cmd, err)
		}
		return cs
	}
	fam := "4/"
	if v6 {
		fam = "6/"
	}
	cs := hdCounts{}
	for key, ch := range sd.chains {
		if !strings.HasPrefix(key, fam) {
			continue
		}
		c, err := ch.Counters()
		if err != nil {
			t.Fatalf("%s: %v", sd.name, err)
		}
		// Rule 0 of a builtin chain is the translator's family guard; the
		// iptables rules follow in order.
		for i := 1; i < len(c.Rules); i++ {
			cs[hdRule{strings.TrimPrefix(key, fam), i}] = [2]uint64{c.Rules[i].Packets, c.Rules[i].Bytes}
		}
		for ukey, irName := range sd.user {
			if !strings.HasPrefix(ukey, fam) {
				continue
			}
			for i, rc := range c.User[irName] {
				k := hdRule{strings.TrimPrefix(ukey, fam), i + 1}
				v := cs[k]
				cs[k] = [2]uint64{v[0] + rc.Packets, v[1] + rc.Bytes}
			}
		}
	}
	return cs
}

// parseSaveCounters reads the "[packets:bytes] -A CHAIN ..." lines of
// iptables-save -c.
func parseSaveCounters(out string) (hdCounts, error) {
	cs := hdCounts{}
	n := map[string]int{}
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "[") {
			continue
		}
		var p, b uint64
		var chain string
		if _, err := fmt.Sscanf(line, "[%d:%d] -A %s", &p, &b, &chain); err != nil {
			return nil, fmt.Errorf("counter line %q: %w", line, err)
		}
		n[chain]++
		cs[hdRule{chain, n[chain]}] = [2]uint64{p, b}
	}
	return cs, nil
}

// delta lists the rules whose counters moved from before to after,
// sorted by chain and position.
func (after hdCounts) delta(before hdCounts) []hdCount {
	var out []hdCount
	for k, a := range after {
		if b := before[k]; a != b {
			out = append(out, hdCount{k, a[0] - b[0], a[1] - b[1]})
		}
	}
	slices.SortFunc(out, func(x, y hdCount) int {
		return cmp.Or(strings.Compare(x.rule.chain, y.rule.chain), cmp.Compare(x.rule.n, y.rule.n))
	})
	return out
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

// hdFenceTimeout bounds the wait for one fence (it normally arrives
// before the send returns).
const hdFenceTimeout = 3 * time.Second

// waitFence reads fd until the datagram or frame carrying the fence
// marker arrives, and reports whether a probe with marker mark (IPv4 ID /
// IPv6 flow label from S, only looked for on the packet socket) came
// before it.
func (sd *hdSide) waitFence(fd int, fence []byte, mark uint32, v6 bool) (sawProbe bool, err error) {
	buf := make([]byte, 65536)
	deadline := time.Now().Add(hdFenceTimeout)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if errors.Is(err, unix.EAGAIN) {
			left := time.Until(deadline)
			if left <= 0 {
				return false, fmt.Errorf("%s: fence not seen within %v", sd.name, hdFenceTimeout)
			}
			pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			if _, err := unix.Poll(pfd, int(left/time.Millisecond)+1); err != nil && !errors.Is(err, unix.EINTR) {
				return false, fmt.Errorf("%s: poll: %w", sd.name, err)
			}
			continue
		}
		if err != nil {
			return false, fmt.Errorf("%s: read observer socket: %w", sd.name, err)
		}
		pkt := buf[:n]
		if bytes.Contains(pkt, fence) {
			return sawProbe, nil
		}
		if fd == sd.tap && frameMark(pkt, v6) == mark {
			sawProbe = true
		}
	}
}

// frameMark returns the IPv4 ID or IPv6 flow label of an Ethernet frame
// from S's address of the family, or ^0.
func frameMark(f []byte, v6 bool) uint32 {
	if len(f) < 14 {
		return ^uint32(0)
	}
	ip := f[14:]
	switch et := binary.BigEndian.Uint16(f[12:]); {
	case !v6 && et == unix.ETH_P_IP && len(ip) >= 20 && netip.AddrFrom4([4]byte(ip[12:16])) == hdS4:
		return uint32(binary.BigEndian.Uint16(ip[4:]))
	case v6 && et == unix.ETH_P_IPV6 && len(ip) >= 40 && netip.AddrFrom16([16]byte(ip[8:24])) == hdS6:
		return binary.BigEndian.Uint32(ip[0:]) & 0xfffff
	}
	return ^uint32(0)
}

// seenInput returns the marks the nftables observer recorded in F.
func (sd *hdSide) seenInput(t *testing.T, v6 bool) map[uint32]bool {
	t.Helper()
	set := "seen4"
	if v6 {
		set = "seen6"
	}
	out, err := sd.rt.Router.Run("nft", "-j", "list", "set", "inet", "bfhdobs", set)
	if err != nil {
		t.Fatalf("%s: %v", sd.name, err)
	}
	marks, err := parseNftSet(out)
	if err != nil {
		t.Fatalf("%s: nft set %s: %v", sd.name, set, err)
	}
	return marks
}

// parseNftSet returns the integer elements of "nft -j list set" output.
func parseNftSet(out string) (map[uint32]bool, error) {
	var doc struct {
		Nftables []struct {
			Set *struct {
				Elem []json.RawMessage `json:"elem"`
			} `json:"set"`
		} `json:"nftables"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	marks := map[uint32]bool{}
	for _, o := range doc.Nftables {
		if o.Set == nil {
			continue
		}
		for _, e := range o.Set.Elem {
			// A plain number, or {"elem": {"val": n, ...}} when the
			// element carries more (timeouts, counters).
			var v uint32
			if err := json.Unmarshal(e, &v); err != nil {
				var w struct {
					Elem struct {
						Val uint32 `json:"val"`
					} `json:"elem"`
				}
				if err2 := json.Unmarshal(e, &w); err2 != nil {
					return nil, fmt.Errorf("element %s: %w", e, err)
				}
				v = w.Elem.Val
			}
			marks[v] = true
		}
	}
	return marks, nil
}

// pinThread locks the calling goroutine to its thread and the thread to
// one CPU, so probe and fence go to the same backlog queue in order; the
// returned function undoes both.
func pinThread(t *testing.T) func() {
	t.Helper()
	runtime.LockOSThread()
	var old, one unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("sched_getaffinity: %v", err)
	}
	for cpu := 0; cpu < 1024; cpu++ {
		if old.IsSet(cpu) {
			one.Set(cpu)
			break
		}
	}
	if err := unix.SchedSetaffinity(0, &one); err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("sched_setaffinity: %v", err)
	}
	return func() {
		if err := unix.SchedSetaffinity(0, &old); err != nil {
			// Leave the thread locked: it dies with the goroutine.
			t.Errorf("restore CPU affinity: %v", err)
			return
		}
		runtime.UnlockOSThread()
	}
}
