package testenv

import "testing"

// TestRoutedLinkLocalUsable: when NewRouted returns, every test link end
// has a usable link-local address, so the router solicits a neighbour for
// the first forwarded IPv6 packet to it. (With the link-local address
// still tentative, the kernel sends no solicitation and holds forwarded
// packets for a second or two: TestDiffAddrtypeForward lost them.)
func TestRoutedLinkLocalUsable(t *testing.T) {
	r := NewRouted(t)
	for _, end := range []struct {
		ns   *Netns
		name string
	}{{r.Client, r.Left.NameA}, {r.Router, r.Left.NameB}, {r.Router, r.Right.NameA}, {r.Server, r.Right.NameB}} {
		out := end.ns.Exec(t, "ip", "-6", "-o", "addr", "show", "dev", end.name)
		if !ipv6Settled(out) {
			t.Errorf("%s: no usable link-local address yet:\n%s", end.name, out)
		}
	}
}

func TestIPv6Settled(t *testing.T) {
	for _, c := range []struct {
		out  string
		want bool
	}{
		{"", false},
		{"2: bfa1    inet6 fd00:198:18::1/64 scope global nodad \\       valid_lft forever preferred_lft forever", false},
		{"2: bfa1    inet6 fd00:198:18::1/64 scope global nodad \\       valid_lft forever preferred_lft forever\n" +
			"2: bfa1    inet6 fe80::1/64 scope link tentative \\       valid_lft forever preferred_lft forever", false},
		{"2: bfa1    inet6 fd00:198:18::1/64 scope global nodad \\       valid_lft forever preferred_lft forever\n" +
			"2: bfa1    inet6 fe80::1/64 scope link \\       valid_lft forever preferred_lft forever", true},
		{"2: bfa1    inet6 fe80::1/64 scope link \\       valid_lft forever preferred_lft forever\n" +
			"2: bfa1    inet6 fd00:198:18::3/64 scope global tentative \\       valid_lft forever preferred_lft forever", false},
	} {
		if got := ipv6Settled(c.out); got != c.want {
			t.Errorf("ipv6Settled(%q) = %v, want %v", c.out, got, c.want)
		}
	}
}
