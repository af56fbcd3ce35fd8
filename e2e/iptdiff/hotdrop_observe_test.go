package iptdiff

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// How the hotdrop differential sees what F did with a probe: the nftables
// observer (INPUT), the packet socket in R (FORWARD), fences, and the
// pinned sending thread.

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
`, hdS4, hdDst("INPUT", 1, false), hdDst("INPUT", hdGroups, false), hdS6, hdDst("INPUT", 1, true), hdDst("INPUT", hdGroups, true))
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
