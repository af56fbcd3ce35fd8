package iptdiff

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bpfilter-go/bpfilter/compat/iptables"
	"github.com/bpfilter-go/bpfilter/engine"
	"github.com/bpfilter-go/bpfilter/engine/localroutes"
	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
	"github.com/bpfilter-go/bpfilter/frontends/iptables/translate"
	"github.com/bpfilter-go/bpfilter/internal/testenv"
)

var sprintf = fmt.Sprintf

// side is a sender namespace S, the namespace F holding the ruleset under
// test, and a receiver namespace R with raw sockets that see every packet
// F lets through. In INPUT mode F is R (S ── R); in FORWARD mode F is a
// router between S and R (S ── F ── R).
type side struct {
	name    string
	s, f, r *testenv.Netns
	sendIf  int
	dstMAC  net.HardwareAddr
	ifIn    string // F's interface towards S
	ifOut   string // F's interface towards R ("" in INPUT mode)
	recv4   netip.Addr
	recv6   netip.Addr
	sendFD  int
	rawFDs  []int
	// mirror fills bpfilter's address type maps (addrtype_test.go).
	mirror *localroutes.Mirror
}

// Receiver addresses: R has .2 (INPUT mode, same link as S) or .2 on the
// second link (FORWARD mode), plus .3-.6 so destination matches have
// something to choose.
func newSide(t *testing.T, name string) *side { return newSideMode(t, name, false) }

func newSideMode(t *testing.T, name string, forward bool) *side {
	t.Helper()
	sd := &side{name: name}
	var recvLink *testenv.Veth
	if forward {
		rt := testenv.NewRouted(t)
		sd.s, sd.f, sd.r = rt.Client, rt.Router, rt.Server
		sd.sendIf, sd.ifIn, sd.ifOut = rt.Left.IfindexA, rt.Left.NameB, rt.Right.NameA
		recvLink = rt.Right
	} else {
		sd.s, sd.r = testenv.NewNetns(t), testenv.NewNetns(t)
		sd.f = sd.r
		v := testenv.NewVethPair(t, sd.s, sd.r, senderV4.String()+"/24", recvV4.String()+"/24")
		sd.sendIf, sd.ifIn = v.IfindexA, v.NameB
		recvLink = v
	}
	sd.recv4, sd.recv6 = recvLink.AddrB.Addr(), recvLink.Addr6B.Addr()
	for i := 3; i <= 6; i++ {
		a4, a6 := sd.recv4.As4(), sd.recv6.As16()
		a4[3], a6[15] = byte(i), byte(i)
		sd.r.Exec(t, "ip", "addr", "add", netip.PrefixFrom(netip.AddrFrom4(a4), 24).String(), "dev", recvLink.NameB)
		sd.r.Exec(t, "ip", "-6", "addr", "add", netip.PrefixFrom(netip.AddrFrom16(a6), 64).String(), "dev", recvLink.NameB, "nodad")
	}
	err := sd.f.Do(func() error {
		ifc, err := net.InterfaceByName(sd.ifIn)
		if err != nil {
			return err
		}
		sd.dstMAC = ifc.HardwareAddr
		return nil
	})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	err = sd.r.Do(func() error {
		for _, fp := range []struct{ fam, proto int }{
			{unix.AF_INET, unix.IPPROTO_TCP}, {unix.AF_INET, unix.IPPROTO_UDP}, {unix.AF_INET, unix.IPPROTO_ICMP},
			{unix.AF_INET6, unix.IPPROTO_TCP}, {unix.AF_INET6, unix.IPPROTO_UDP}, {unix.AF_INET6, unix.IPPROTO_ICMPV6},
		} {
			fd, err := unix.Socket(fp.fam, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, fp.proto)
			if err != nil {
				return fmt.Errorf("raw socket %d/%d: %w", fp.fam, fp.proto, err)
			}
			sd.rawFDs = append(sd.rawFDs, fd)
			if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20); err != nil {
				return fmt.Errorf("SO_RCVBUFFORCE: %w", err)
			}
		}
		return nil
	})
	t.Cleanup(func() {
		for _, fd := range sd.rawFDs {
			unix.Close(fd)
		}
	})
	if err != nil {
		t.Fatalf("%s: receiver: %v", name, err)
	}
	err = sd.s.Do(func() error {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("packet socket: %w", err)
		}
		sd.sendFD = fd
		return nil
	})
	if err != nil {
		t.Fatalf("%s: sender: %v", name, err)
	}
	t.Cleanup(func() { unix.Close(sd.sendFD) })
	return sd
}

// subst replaces the interface placeholders of a ruleset with F's names:
// @IF@ and @IN@ the interface towards S, @OUT@ the one towards R.
func (sd *side) subst(text string) string {
	return strings.NewReplacer("@IF@", sd.ifIn, "@IN@", sd.ifIn, "@OUT@", sd.ifOut).Replace(text)
}

// send puts one IP packet on the wire from S to R.
func (sd *side) send(p probe) error {
	etype := uint16(0x0800)
	if p.v6 {
		etype = 0x86dd
	}
	frame := make([]byte, 14, 14+len(p.ip))
	dst := p.dstMAC.addr(sd.dstMAC, p.v6)
	copy(frame[0:6], dst)
	copy(frame[6:12], []byte{0x02, 0, 0, 0, 0, 1})
	if p.srcMAC != nil {
		copy(frame[6:12], p.srcMAC)
	}
	binary.BigEndian.PutUint16(frame[12:], etype)
	frame = append(frame, p.ip...)
	to := &unix.SockaddrLinklayer{Ifindex: sd.sendIf, Protocol: htons(etype), Halen: 6}
	copy(to.Addr[:], dst)
	return unix.Sendto(sd.sendFD, frame, 0, to)
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// drain reads every datagram queued on R's raw sockets and records the
// markers found.
func (sd *side) drain(got map[uint32]bool) error {
	buf := make([]byte, 65536)
	for _, fd := range sd.rawFDs {
		for {
			n, _, err := unix.Recvfrom(fd, buf, 0)
			if errors.Is(err, unix.EAGAIN) {
				break
			}
			if err != nil {
				return fmt.Errorf("%s: read raw socket: %w", sd.name, err)
			}
			if i := bytes.Index(buf[:n], []byte("BFDIFF")); i >= 0 && i+10 <= n {
				got[binary.BigEndian.Uint32(buf[i+6:])] = true
			}
		}
	}
	return nil
}

// loadKernel loads the restore text with iptables-legacy-restore (and
// ip6tables-legacy-restore) in R.
func (sd *side) loadKernel(t *testing.T, v4, v6 string) {
	t.Helper()
	for _, x := range []struct{ cmd, text string }{{"iptables-legacy-restore", v4}, {"ip6tables-legacy-restore", v6}} {
		if x.text == "" {
			continue
		}
		cmd := exec.Command("ip", "netns", "exec", sd.f.Name, x.cmd)
		cmd.Stdin = strings.NewReader(x.text)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v: %s", x.cmd, err, out)
		}
	}
}

// loadBpfilter translates the restore texts and loads the builtin chains
// with the engine, attached in R.
func (sd *side) loadBpfilter(t *testing.T, v4, v6 string) {
	t.Helper()
	for _, x := range []struct {
		fam  abi.Family
		text string
		prio [2]int32
	}{{abi.IPv4, v4, translate.DefaultPriorities}, {abi.IPv6, v6, [2]int32{-4, -3}}} {
		if x.text == "" {
			continue
		}
		ts := iptables.NewTables(x.fam)
		if err := ts.Restore(strings.NewReader(x.text), iptables.RestoreOptions{}); err != nil {
			t.Fatalf("restore %s: %v", x.fam, err)
		}
		tb, err := ts.Table("filter")
		if err != nil {
			t.Fatal(err)
		}
		rs, err := translate.Table(tb, translate.Options{RuleText: iptables.RuleString, Priorities: x.prio, RejectAsDrop: true})
		if err != nil {
			t.Fatalf("translate %s: %v", x.fam, err)
		}
		for _, c := range rs.Chains {
			if c.User {
				continue
			}
			var ch *engine.Chain
			err := sd.f.Do(func() error {
				var err error
				ch, err = engine.Load(c, engine.Options{Ruleset: rs})
				return err
			})
			if ch != nil {
				t.Cleanup(func() { ch.Close() })
			}
			if err == nil {
				err = sd.fillAddrTypes(t, ch) // addrtype_test.go
			}
			if err == nil {
				err = sd.f.Do(func() error { return ch.Attach(c.HookOpts) })
			}
			if err != nil {
				t.Fatalf("load %s: %v", c.Name, err)
			}
		}
	}
}

// deliver sends the probes to both sides in batches and returns, per
// side, the markers R delivered.
func deliver(t *testing.T, sides []*side, probes []probe) []map[uint32]bool {
	t.Helper()
	got := make([]map[uint32]bool, len(sides))
	for i := range got {
		got[i] = map[uint32]bool{}
	}
	const batch = 64
	deadline := time.Now().Add(2 * time.Minute)
	for start := 0; start < len(probes); start += batch {
		if time.Now().After(deadline) {
			t.Fatalf("sending took longer than 2 minutes (%d of %d probes sent)", start, len(probes))
		}
		end := min(start+batch, len(probes))
		for _, p := range probes[start:end] {
			for _, sd := range sides {
				if err := sd.send(p); err != nil {
					t.Fatalf("%s: send %s: %v", sd.name, p.desc, err)
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
		for i, sd := range sides {
			if err := sd.drain(got[i]); err != nil {
				t.Fatal(err)
			}
		}
	}
	time.Sleep(100 * time.Millisecond)
	for i, sd := range sides {
		if err := sd.drain(got[i]); err != nil {
			t.Fatal(err)
		}
	}
	return got
}

// requireEnv skips unless the test can run.
func requireEnv(t *testing.T) {
	t.Helper()
	testenv.RequireRoot(t)
	testenv.RequireBPF(t)
	testenv.RequireCommand(t, "iptables-legacy-restore")
	testenv.RequireCommand(t, "ip6tables-legacy-restore")
}
