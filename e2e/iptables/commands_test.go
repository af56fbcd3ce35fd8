package iptablese2e

import (
	"strings"
	"testing"

	"github.com/bpfilter-go/bpfilter/internal/testenv"
)

// step is one command of a sequence: the tool and its arguments.
type step struct {
	tool string
	args []string
}

func steps(tool string, lines ...string) []step {
	var out []step
	for _, l := range lines {
		out = append(out, step{tool, strings.Fields(l)})
	}
	return out
}

// listings are the views compared after every sequence.
var listings = [][]string{{"-S"}, {"-L", "-n"}, {"-L", "-n", "-v", "-x"}, {"-L", "INPUT", "-n", "--line-numbers"}}

// compareSequence runs the steps through bpfilter-iptables against a
// transient daemon in one namespace and through iptables-legacy in
// another, and checks exit codes, every listing and the save output are
// the same (counters aside).
func compareSequence(t *testing.T, tool string, seq []step) {
	requireE2E(t)
	testenv.RequireCommand(t, strings.Replace(tool, "tables", "tables-legacy", 1))
	ours, theirs := testenv.NewNetns(t), testenv.NewNetns(t)
	d := newDaemon(t, ours, "--transient")
	d.start()
	for _, s := range seq {
		got := d.tool("", s.tool, s.args...)
		want := legacy(t, theirs, "", s.tool, s.args...)
		if got.code != want.code {
			t.Fatalf("%s %s: exit %d (%s), iptables-legacy exit %d (%s)", s.tool, strings.Join(s.args, " "), got.code, got.err, want.code, want.err)
		}
		if normalize(got.out) != normalize(want.out) {
			t.Fatalf("%s %s: output\n%s\niptables-legacy:\n%s", s.tool, strings.Join(s.args, " "), got.out, want.out)
		}
		if got.code != 0 {
			gl, _, _ := strings.Cut(got.err, "\n")
			wl, _, _ := strings.Cut(want.err, "\n")
			if gl != wl {
				t.Errorf("%s %s: first error line %q, iptables-legacy %q", s.tool, strings.Join(s.args, " "), gl, wl)
			}
		}
	}
	for _, l := range listings {
		got := must(t, d.tool("", tool, l...), tool+" "+strings.Join(l, " "))
		want := must(t, legacy(t, theirs, "", tool, l...), "legacy "+strings.Join(l, " "))
		if normalize(got) != normalize(want) {
			t.Errorf("%s %s:\n%s\niptables-legacy:\n%s", tool, strings.Join(l, " "), got, want)
		}
	}
	got := must(t, d.tool("", tool+"-save"), tool+"-save")
	want := must(t, legacy(t, theirs, "", tool+"-save", "-t", "filter"), "legacy save")
	if normalize(got) != normalize(want) {
		t.Errorf("%s-save:\n%s\niptables-legacy-save:\n%s", tool, got, want)
	}
}

func TestCommandsLikeLegacyIPv4(t *testing.T) {
	compareSequence(t, "iptables", steps("iptables",
		"-N FOO",
		"-A FOO -p tcp --dport 22 -j ACCEPT",
		"-A FOO -p tcp --sport 1000:2000 -m comment --comment hello -j DROP",
		"-A FOO -j RETURN",
		"-A INPUT -s 198.18.0.0/24 -j FOO",
		"-I INPUT 1 -p udp --dport 53 -j DROP",
		"-A INPUT -d 198.18.5.5 -j DROP",
		"-A INPUT -p icmp --icmp-type echo-request -j ACCEPT",
		"-A INPUT ! -s 198.18.9.0/24 -p udp ! --dport 9 -j ACCEPT",
		"-R INPUT 2 -s 198.18.0.7 -j DROP",
		"-D INPUT -d 198.18.5.5 -j DROP",
		"-C INPUT -s 198.18.0.7/32 -j DROP",
		"-C INPUT -p tcp -j DROP",
		"-D INPUT 9",
		"-E FOO BAR",
		"-P FORWARD DROP",
		"-N EMPTY",
		"-X EMPTY",
		"-X BAR",
		"-A OUTPUT -p tcp --tcp-flags SYN,ACK SYN -j ACCEPT",
		"-A OUTPUT -m mark --mark 0x1/0xff -j ACCEPT",
		"-N BAR",
		"-Z",
		"-F OUTPUT",
		"-P OUTPUT ACCEPT",
		"-P INPUT DROP",
		"-P INPUT ACCEPT",
		"-L NOPE",
	))
}

func TestCommandsLikeLegacyIPv6(t *testing.T) {
	compareSequence(t, "ip6tables", steps("ip6tables",
		"-N SVC",
		"-A SVC -p tcp --dport 443 -j ACCEPT",
		"-A SVC -j DROP",
		"-A INPUT -s fd00:198:18::/64 -j SVC",
		"-A INPUT -p ipv6-icmp --icmpv6-type echo-request -j ACCEPT",
		"-I INPUT -d fd00:198:18::5 -j DROP",
		"-A FORWARD -p udp -j DROP",
		"-D FORWARD 1",
		"-P FORWARD DROP",
	))
}
