package kernel

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
	"github.com/bpfilter-go/bpfilter/internal/testenv"
)

// TestReplaceAndAddCounters writes a table with SO_SET_REPLACE, checks
// that iptables-legacy sees it, adds counters with SO_SET_ADD_COUNTERS and
// reads them back.
func TestReplaceAndAddCounters(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireCommand(t, "iptables-legacy")
	for _, fam := range []abi.Family{abi.IPv4, abi.IPv6} {
		ns := testenv.NewNetns(t)
		c := openIn(t, ns, fam)
		tab, info, _, err := c.ReadTable("filter")
		if err != nil {
			t.Fatal(err)
		}
		src, want := netip.MustParseAddr("198.18.0.1"), "-A INPUT -s 198.18.0.1/32 -j user"
		mask := netip.MustParseAddr("255.255.255.255")
		zero := netip.AddrFrom4([4]byte{})
		cmd := "iptables-legacy"
		if fam == abi.IPv6 {
			src, want = netip.MustParseAddr("fd00:198:18::1"), "-A INPUT -s fd00:198:18::1/128 -j user"
			mask = netip.AddrFrom16([16]byte{0: 0xff, 1: 0xff, 2: 0xff, 3: 0xff, 4: 0xff, 5: 0xff, 6: 0xff, 7: 0xff, 8: 0xff, 9: 0xff, 10: 0xff, 11: 0xff, 12: 0xff, 13: 0xff, 14: 0xff, 15: 0xff})
			zero = netip.IPv6Unspecified()
			cmd = "ip6tables-legacy"
		}
		ip := abi.IPHeader{Src: src, SrcMask: mask, Dst: zero, DstMask: zero}
		tab.Chains = append(tab.Chains, &abi.Chain{Name: "user", Hook: -1, Rules: []*abi.Rule{
			{IP: abi.IPHeader{Src: zero, SrcMask: zero, Dst: zero, DstMask: zero}, Target: abi.Target{Kind: abi.TargetVerdict, Verdict: abi.VerdictDrop}},
		}})
		in := tab.Chain("INPUT")
		in.Rules = append(in.Rules, &abi.Rule{IP: ip, Target: abi.Target{Kind: abi.TargetJump, Chain: "user"}})
		old, err := c.ReplaceTable(tab)
		if err != nil {
			t.Fatal(err)
		}
		if len(old) != int(info.NumEntries) {
			t.Errorf("%s: %d old counters, want %d", fam, len(old), info.NumEntries)
		}
		out := ns.Exec(t, cmd, "-S")
		if !strings.Contains(out, want+"\n") || !strings.Contains(out, "-A user -j DROP\n") {
			t.Fatalf("%s: iptables-legacy -S after replace:\n%s", fam, out)
		}
		ninfo, err := c.GetInfo("filter")
		if err != nil {
			t.Fatal(err)
		}
		counters := make([]abi.Counters, ninfo.NumEntries)
		counters[0] = abi.Counters{Packets: 7, Bytes: 700}
		if err := c.AddCounters("filter", counters); err != nil {
			t.Fatal(err)
		}
		got, _, _, err := c.ReadTable("filter")
		if err != nil {
			t.Fatal(err)
		}
		if r := got.Chain("INPUT").Rules[0]; r.Counters != (abi.Counters{Packets: 7, Bytes: 700}) {
			t.Errorf("%s: counters after add: %+v", fam, r.Counters)
		}
		if err := c.AddCounters("filter", counters[:1]); err == nil {
			t.Errorf("%s: add-counters with the wrong count accepted", fam)
		}
		if ok, err := c.Supported(false, "conntrack", 3); err != nil || !ok {
			t.Errorf("%s: conntrack revision 3 not reported as supported: %v", fam, err)
		}
		if ok, err := c.Supported(true, "NOSUCHTARGET", 0); err != nil || ok {
			t.Errorf("%s: unknown target reported as supported: %v %v", fam, ok, err)
		}
	}
}

// TestTableNamesAndImport lists the tables of a namespace where
// iptables-legacy created filter and nat, and imports them.
func TestTableNamesAndImport(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireCommand(t, "iptables-legacy")
	ns := testenv.NewNetns(t)
	ns.Exec(t, "iptables-legacy", "-A", "INPUT", "-j", "ACCEPT")
	ns.Exec(t, "iptables-legacy", "-t", "nat", "-N", "natchain")
	var names []string
	if err := ns.Do(func() error {
		var err error
		names, err = TableNames(abi.IPv4)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(names, ",")
	if !strings.Contains(got, "filter") || !strings.Contains(got, "nat") {
		t.Fatalf("table names %q, want filter and nat", got)
	}
	c := openIn(t, ns, abi.IPv4)
	tabs, err := c.ReadTables(names)
	if err != nil {
		t.Fatal(err)
	}
	for _, tab := range tabs {
		if tab.Name == "nat" && tab.Chain("natchain") == nil {
			t.Errorf("nat table imported without natchain")
		}
		if tab.Name == "filter" && len(tab.Chain("INPUT").Rules) != 1 {
			t.Errorf("filter INPUT imported with %d rules", len(tab.Chain("INPUT").Rules))
		}
	}
}
