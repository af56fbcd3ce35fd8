package testenv

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// Duplicate address detection on test links.
//
// A fresh interface's link-local address stays tentative while IPv6
// duplicate address detection runs (a random delay of up to
// rtr_solicit_delay, one second, then retrans_time, one second). While it
// is tentative the kernel cannot solicit a neighbour for a packet whose
// source is not one of its own addresses (ndisc_send_ns needs a usable
// link-local source), so a router silently holds forwarded IPv6 packets
// to a neighbour it has not resolved yet until the next probe, a second
// later. Test links carry unique addresses by construction, so DAD is
// turned off on them (as the global ULAs are added with nodad), and
// NewVethPair waits until both ends have a usable link-local address.

// ipv6SettleTimeout bounds the wait for an interface's IPv6 addresses to
// leave the tentative state (DAD, if something turned it back on, takes
// at most about two seconds).
const ipv6SettleTimeout = 5 * time.Second

// disableDAD turns IPv6 duplicate address detection off on interface name
// in ns; call it before the interface is brought up.
func disableDAD(tb testing.TB, ns *Netns, name string) {
	tb.Helper()
	ns.Exec(tb, "sysctl", "-qw", "net.ipv6.conf."+name+".accept_dad=0")
}

// waitIPv6Settled waits until interface name in ns has a link-local
// address and no tentative IPv6 address, so that it can send neighbour
// solicitations for any packet. (The link-local address appears only once
// the kernel has seen the carrier, which it may do after "ip link set up"
// returns.)
func waitIPv6Settled(ns *Netns, name string) error {
	deadline := time.Now().Add(ipv6SettleTimeout)
	for {
		out, err := ns.Run("ip", "-6", "-o", "addr", "show", "dev", name)
		if err != nil {
			return fmt.Errorf("IPv6 addresses of %s: %w", name, err)
		}
		if ipv6Settled(out) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s has no usable link-local IPv6 address after %v:\n%s", name, ipv6SettleTimeout, out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ipv6Settled reports whether "ip -6 -o addr show" output lists a
// link-local address and no tentative one.
func ipv6Settled(out string) bool {
	linkLocal := false
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		for i, w := range f {
			switch {
			case w == "tentative":
				return false
			case w == "scope" && i+1 < len(f) && f[i+1] == "link":
				linkLocal = true
			}
		}
	}
	return linkLocal
}
