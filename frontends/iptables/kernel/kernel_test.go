package kernel

import (
	"bytes"
	"testing"

	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
	"github.com/bpfilter-go/bpfilter/internal/testenv"
)

func openIn(t *testing.T, ns *testenv.Netns, fam abi.Family) *Conn {
	t.Helper()
	c, err := OpenInNetns(fam, ns.Path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestReadEncodeRoundTrip reads filter tables written by iptables-legacy
// and checks that Encode of the decoded table gives the kernel's bytes
// back (counters and comefrom masked).
func TestReadEncodeRoundTrip(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireCommand(t, "iptables-legacy")
	for _, fam := range []abi.Family{abi.IPv4, abi.IPv6} {
		ns := testenv.NewNetns(t)
		cmd := "iptables-legacy"
		if fam == abi.IPv6 {
			cmd = "ip6tables-legacy"
		}
		ns.Exec(t, cmd, "-N", "zeta")
		ns.Exec(t, cmd, "-N", "alpha")
		ns.Exec(t, cmd, "-A", "INPUT", "-i", "lo", "-j", "ACCEPT")
		ns.Exec(t, cmd, "-A", "INPUT", "-j", "alpha")
		ns.Exec(t, cmd, "-A", "FORWARD", "-g", "zeta")
		ns.Exec(t, cmd, "-A", "alpha", "-p", "tcp", "--dport", "22", "-j", "zeta")
		ns.Exec(t, cmd, "-A", "alpha", "-p", "udp")
		ns.Exec(t, cmd, "-A", "zeta", "-j", "DROP")
		ns.Exec(t, cmd, "-P", "OUTPUT", "DROP")
		c := openIn(t, ns, fam)
		tab, info, blob, err := c.ReadTable("filter")
		if err != nil {
			t.Fatal(err)
		}
		if got := len(tab.Chains); got != 5 {
			t.Fatalf("%s: %d chains, want 5", fam, got)
		}
		if tab.Chains[3].Name != "alpha" || tab.Chains[4].Name != "zeta" {
			t.Errorf("%s: user chains %s, %s; want alpha, zeta (libiptc sorts them)", fam, tab.Chains[3].Name, tab.Chains[4].Name)
		}
		if tab.Chains[2].Policy != abi.VerdictDrop {
			t.Errorf("%s: OUTPUT policy %d, want DROP", fam, tab.Chains[2].Policy)
		}
		rep, enc, err := abi.Encode(tab)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Info() != info {
			t.Errorf("%s: encoded header %+v, kernel %+v", fam, rep.Info(), info)
		}
		want := abi.MaskVolatile(fam, blob)
		if got := abi.MaskVolatile(fam, enc); !bytes.Equal(got, want) {
			t.Errorf("%s: encoded blob differs from the kernel's\n%s", fam, abi.DiffBlobs(fam, got, want))
		}
	}
}
