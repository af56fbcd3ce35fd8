package testenv

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// TestNet is the only IPv4 range test traffic may use (RFC 2544
// benchmarking addresses).
var TestNet = netip.MustParsePrefix("198.18.0.0/15")

// TestNet6 is the IPv6 ULA range test traffic may use.
var TestNet6 = netip.MustParsePrefix("fd00:198::/32")

// Veth is a veth pair whose two ends live in two test namespaces.
type Veth struct {
	A, B *Netns
	// NameA and NameB are the interface names in A and B.
	NameA, NameB string
	// IfindexA and IfindexB are the interface indexes in A and B.
	IfindexA, IfindexB int
	// AddrA and AddrB are the IPv4 addresses with their prefix.
	AddrA, AddrB netip.Prefix
	// Addr6A and Addr6B are the IPv6 ULAs derived from the IPv4 addresses
	// (see IPv6For).
	Addr6A, Addr6B netip.Prefix
}

// IPv6For maps a test IPv4 address a.b.c.d/n to the ULA fd00:198:b:c::d/64,
// where b, c and d are written with their decimal digits, so 198.18.0.2/24
// becomes fd00:198:18:0::2/64.
func IPv6For(p netip.Prefix) (netip.Prefix, error) {
	a := p.Addr()
	if !a.Is4() || !TestNet.Contains(a) {
		return netip.Prefix{}, fmt.Errorf("%s is not a test address in %s", p, TestNet)
	}
	b := a.As4()
	s := fmt.Sprintf("fd00:198:%d:%d::%d/64", b[1], b[2], b[3])
	return netip.ParsePrefix(s)
}

// NewVethPair creates a veth pair with one end in a and the other in b,
// gives them the IPv4 addresses addrA and addrB (CIDR notation inside
// 198.18.0.0/15) plus the matching IPv6 ULAs, and brings both ends up. The
// pair is deleted when the test ends. It returns once both ends have a
// usable link-local IPv6 address (DAD is off on test links, see dad.go: a
// router can then solicit neighbours for forwarded packets at once) and B
// answers pings from A over both families, so the pings are not part of
// any later count.
func NewVethPair(tb testing.TB, a, b *Netns, addrA, addrB string) *Veth {
	tb.Helper()
	v := &Veth{A: a, B: b}
	var err error
	for _, x := range []struct {
		s  string
		p4 *netip.Prefix
		p6 *netip.Prefix
	}{{addrA, &v.AddrA, &v.Addr6A}, {addrB, &v.AddrB, &v.Addr6B}} {
		if *x.p4, err = netip.ParsePrefix(x.s); err != nil {
			tb.Fatalf("veth address: %v", err)
		}
		if *x.p6, err = IPv6For(*x.p4); err != nil {
			tb.Fatalf("veth address: %v", err)
		}
	}
	if v.NameA, err = uniqueName("bfa"); err != nil {
		tb.Fatal(err)
	}
	if v.NameB, err = uniqueName("bfb"); err != nil {
		tb.Fatal(err)
	}
	a.Exec(tb, "ip", "link", "add", v.NameA, "type", "veth", "peer", "name", v.NameB, "netns", b.Name)
	tb.Cleanup(func() {
		// Deleting one end deletes the pair.
		if _, err := a.Run("ip", "link", "del", v.NameA); err != nil {
			tb.Errorf("delete veth: %v", err)
		}
	})
	for _, end := range []struct {
		ns     *Netns
		name   string
		p4, p6 netip.Prefix
		idx    *int
	}{{a, v.NameA, v.AddrA, v.Addr6A, &v.IfindexA}, {b, v.NameB, v.AddrB, v.Addr6B, &v.IfindexB}} {
		end.ns.Exec(tb, "ip", "addr", "add", end.p4.String(), "dev", end.name)
		end.ns.Exec(tb, "ip", "-6", "addr", "add", end.p6.String(), "dev", end.name, "nodad")
		disableDAD(tb, end.ns, end.name) // dad.go
		end.ns.Exec(tb, "ip", "link", "set", end.name, "up")
		if *end.idx, err = end.ns.Ifindex(end.name); err != nil {
			tb.Fatal(err)
		}
	}
	for _, end := range []struct {
		ns   *Netns
		name string
	}{{a, v.NameA}, {b, v.NameB}} {
		if err := waitIPv6Settled(end.ns, end.name); err != nil {
			tb.Fatalf("veth %s-%s: %v", v.NameA, v.NameB, err)
		}
	}
	if err := v.waitReachable(); err != nil {
		tb.Fatal(err)
	}
	return v
}

// waitReachable pings B from A over IPv4 and IPv6 until both answer: a
// fresh veth drops the first IPv6 packets for up to a second while the
// kernel finishes bringing the link up.
func (v *Veth) waitReachable() error {
	for _, dst := range []netip.Addr{v.AddrB.Addr(), v.Addr6B.Addr()} {
		var err error
		for try := 0; try < 10; try++ {
			if _, err = v.A.Run("ping", "-c", "1", "-W", "1", "-i", "0.2", dst.String()); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			return fmt.Errorf("veth %s-%s never became reachable: %w", v.NameA, v.NameB, err)
		}
	}
	return nil
}
