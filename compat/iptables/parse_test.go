package iptables

import (
	"bytes"
	"strings"
	"testing"

	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
)

// TestParseErrors checks refusals that need no kernel: the message and the
// exit status iptables gives.
func TestParseErrors(t *testing.T) {
	cases := []struct {
		fam  abi.Family
		line string
		code int
		msg  string
	}{
		{abi.IPv4, "-A INPUT -s example.com", ExitParameter, "host names are not supported"},
		{abi.IPv4, "-A INPUT -s ::1", ExitParameter, "host/network `::1' not found"},
		{abi.IPv6, "-A INPUT -d 1.2.3.4", ExitParameter, "host/network `1.2.3.4' not found"},
		{abi.IPv4, "-A INPUT -s 1.2.3.4/33", ExitParameter, "invalid mask `33' specified"},
		{abi.IPv4, "-A INPUT -p nosuchproto", ExitParameter, "unknown protocol \"nosuchproto\" specified"},
		{abi.IPv4, "-A INPUT ! -p 0", ExitParameter, "rule would never match protocol"},
		{abi.IPv4, "-A INPUT -i thisinterfaceistoolong0", ExitParameter, "must be shorter than IFNAMSIZ"},
		{abi.IPv4, "-A INPUT -m nosuchmatch", ExitParameter, "Couldn't load match `nosuchmatch'"},
		{abi.IPv4, "-A INPUT -m owner --uid-owner 0", ExitParameter, "match owner is not supported by bpfilter"},
		{abi.IPv4, "-A INPUT -j TPROXY --on-port 1", ExitParameter, "target TPROXY is not supported by bpfilter"},
		{abi.IPv4, "-A INPUT -j nosuchchain", ExitParameter, "Couldn't load target `nosuchchain'"},
		{abi.IPv4, "-A INPUT -p tcp --dport 22 -A OUTPUT", ExitParameter, "Cannot use -A with -A"},
		{abi.IPv4, "-D INPUT 1", ExitOther, "Index of deletion too big."},
		{abi.IPv4, "-D INPUT -j ACCEPT", ExitOther, "Bad rule (does a matching rule exist in that chain?)."},
		{abi.IPv4, "-t nat -A PREROUTING -j ACCEPT -o eth0", ExitParameter, "Can't use -o with PREROUTING"},
		{abi.IPv4, "-t broken -L", ExitVersion, "Table does not exist"},
		{abi.IPv4, "-N " + strings.Repeat("x", 29), ExitParameter, "too long"},
		{abi.IPv4, "-N ACCEPT", ExitParameter, "may not clash with target name"},
		{abi.IPv4, "-6 -L", ExitParameter, "This is the IPv4 version of iptables."},
		{abi.IPv4, "-A INPUT -p tcp --tcp-flags SYN", ExitParameter, "requires two args"},
		{abi.IPv4, "-A INPUT ! ! -p tcp", ExitParameter, "multiple consecutive ! not allowed"},
		{abi.IPv4, "-L -n -x --line-numbers -A INPUT", ExitParameter, "Cannot use -A with -L"},
		{abi.IPv4, "-A INPUT -n", ExitParameter, "Illegal option `-n' with this command"},
		{abi.IPv4, "bogus", ExitParameter, "Bad argument `bogus'"},
	}
	for _, c := range cases {
		ts := NewTables(c.fam)
		var out, errb bytes.Buffer
		code := Main(ts, strings.Fields(c.line), &out, &errb)
		if code != c.code || !strings.Contains(errb.String(), c.msg) {
			t.Errorf("%s %q: exit %d, stderr %q; want exit %d with %q", c.fam, c.line, code, errb.String(), c.code, c.msg)
		}
	}
}

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if code := Main(NewTables(abi.IPv6), []string{"--version"}, &out, &out); code != 0 || out.String() != "ip6tables v1.8.9 (bpfilter)\n" {
		t.Errorf("--version: %d %q", code, out.String())
	}
}
