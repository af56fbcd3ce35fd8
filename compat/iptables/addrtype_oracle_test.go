package iptables

import (
	"bytes"
	"strings"
	"testing"

	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
	"github.com/bpfilter-go/bpfilter/internal/testenv"
)

// addrtype6Sequence: the IPv6 address types xt_addrtype's checkentry
// refuses, and the hook limits, through ip6tables.
var addrtype6Sequence = []string{
	"-A INPUT -m addrtype --dst-type BROADCAST",
	"-A INPUT -m addrtype --src-type BLACKHOLE",
	"-A INPUT -m addrtype --src-type PROHIBIT",
	"-A INPUT -m addrtype --dst-type THROW",
	"-A INPUT -m addrtype --dst-type NAT",
	"-A INPUT -m addrtype --dst-type XRESOLVE",
	"-A INPUT -m addrtype --src-type UNICAST,LOCAL --dst-type UNREACHABLE",
	"-A INPUT -m addrtype ! --dst-type MULTICAST,ANYCAST --limit-iface-in",
	"-A OUTPUT -m addrtype --dst-type LOCAL --limit-iface-in",
	"-A INPUT -m addrtype --dst-type LOCAL --limit-iface-out",
	"-A FORWARD -m addrtype --dst-type UNSPEC --limit-iface-out",
	"-S",
}

// TestOracleAddrtype6 compares exit statuses, first error lines and
// output with ip6tables-legacy.
func TestOracleAddrtype6(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireCommand(t, "ip6tables-legacy")
	ns := testenv.NewNetns(t)
	ours := NewTables(abi.IPv6)
	for _, line := range addrtype6Sequence {
		args := strings.Fields(line)
		lout, lerr, lcode := runLegacy(t, ns.Name, "ip6tables-legacy", args, nil)
		var oout, oerr bytes.Buffer
		ocode := Main(ours, args, &oout, &oerr)
		if lcode != ocode || firstLine(lerr) != firstLine(oerr.String()) || lout != oout.String() {
			t.Errorf("%q: exit %d %q %q; ip6tables-legacy %d %q %q", line, ocode, firstLine(oerr.String()), oout.String(), lcode, firstLine(lerr), lout)
		}
	}
}
