package daemon

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bpfilter-go/bpfilter/backend"
	"github.com/bpfilter-go/bpfilter/internal/testenv"
)

// TestE2EVerboseBPF: with --verbose=bpf the daemon's programs print a
// message to the kernel's trace buffer when a kernel call fails: a TCP
// packet cut short, sent over a veth pair to an XDP chain, makes the
// transport header load fail. The bytecode dump shows the calls too.
func TestE2EVerboseBPF(t *testing.T) {
	e := newE2E(t, "-t", "--no-iptables", "--verbose=bpf", "-v", "bytecode")
	trace := traceFile(t)
	a, b := testenv.NewNetns(t), testenv.NewNetns(t)
	v := testenv.NewVethPair(t, a, b, "198.18.25.1/24", "198.18.25.2/24")
	e.start()
	name := fmt.Sprintf("vbe2e_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9)
	e.mustBfcli(a, "chain", "set", "-s", fmt.Sprintf("chain %s BF_HOOK_XDP{iface=%s} ACCEPT rule tcp.dport 22 counter DROP", name, v.NameA))
	if !strings.Contains(e.out.String(), "FnTracePrintk") {
		t.Fatalf("bytecode dump has no bpf_trace_printk call:\n%s", e.out)
	}
	if n := pings(t, b, v.AddrA.Addr(), 1); n != 1 {
		t.Fatalf("%d of 1 ping answered", n)
	}
	const sent = 3
	if err := b.Do(func() error { return sendTruncatedTCP(v.AddrB.Addr(), v.AddrA.Addr(), sent) }); err != nil {
		t.Fatal(err)
	}
	want := backend.VerbosePrefix + name + ": bpf_xdp_load_bytes (transport header) failed: -"
	if n := waitTrace(t, trace, want, sent); n != sent {
		t.Fatalf("%d trace lines with %q, want %d", n, want, sent)
	}
}

// sendTruncatedTCP sends n IPv4 packets from src to dst whose TCP header
// has 4 of its 20 bytes; 40 bytes of IP options make the frame longer
// than Ethernet's minimum, so padding cannot complete the header.
func sendTruncatedTCP(src, dst netip.Addr, n int) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_RAW)
	if err != nil {
		return fmt.Errorf("raw socket: %w", err)
	}
	defer unix.Close(fd)
	const ihl = 15
	pkt := make([]byte, ihl*4+4)
	pkt[0] = 4<<4 | ihl
	binary.BigEndian.PutUint16(pkt[2:], uint16(len(pkt)))
	pkt[8] = 64
	pkt[9] = unix.IPPROTO_TCP
	s, d := src.As4(), dst.As4()
	copy(pkt[12:], s[:])
	copy(pkt[16:], d[:])
	for i := 20; i < ihl*4; i++ {
		pkt[i] = 1 // NOP option
	}
	binary.BigEndian.PutUint16(pkt[ihl*4:], 1234)
	binary.BigEndian.PutUint16(pkt[ihl*4+2:], 22)
	for i := 0; i < n; i++ {
		if err := unix.Sendto(fd, pkt, 0, &unix.SockaddrInet4{Addr: d}); err != nil {
			return fmt.Errorf("send truncated TCP packet: %w", err)
		}
	}
	return nil
}

// traceFile returns the path of the kernel's trace buffer ("trace", read
// without consuming it). When tracefs is not mounted, the test mounts it
// in a temporary directory and unmounts it after; it never clears the
// buffer nor changes tracing settings, and skips when tracing is off.
func traceFile(tb testing.TB) string {
	tb.Helper()
	testenv.RequireRoot(tb)
	for _, d := range []string{"/sys/kernel/tracing", "/sys/kernel/debug/tracing"} {
		if _, err := os.Stat(filepath.Join(d, "trace")); err == nil {
			return checkTracing(tb, d)
		}
	}
	dir := tb.TempDir()
	if err := unix.Mount("tracefs", dir, "tracefs", 0, ""); err != nil {
		tb.Skipf("tracefs is not mounted and cannot be mounted: %v", err)
	}
	tb.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			tb.Errorf("unmount tracefs %s: %v", dir, err)
		}
	})
	return checkTracing(tb, dir)
}

func checkTracing(tb testing.TB, dir string) string {
	tb.Helper()
	on, err := os.ReadFile(filepath.Join(dir, "tracing_on"))
	if err != nil {
		tb.Fatalf("read tracing_on: %v", err)
	}
	if strings.TrimSpace(string(on)) != "1" {
		tb.Skipf("tracing is off (%s/tracing_on); the test does not turn it on", dir)
	}
	return filepath.Join(dir, "trace")
}

// waitTrace counts the lines of the trace buffer containing want, waiting
// up to five seconds for at least min of them.
func waitTrace(tb testing.TB, trace, want string, min int) int {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		data, err := os.ReadFile(trace)
		if err != nil {
			tb.Fatalf("read %s: %v", trace, err)
		}
		n := strings.Count(string(data), want)
		if n >= min || time.Now().After(deadline) {
			return n
		}
		time.Sleep(50 * time.Millisecond)
	}
}
