package iptables

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
	"github.com/bpfilter-go/bpfilter/frontends/iptables/kernel"
	"github.com/bpfilter-go/bpfilter/frontends/iptables/xt"
	"github.com/bpfilter-go/bpfilter/internal/testenv"
)

// TestOracleOldConntrackRevisions writes rules with conntrack revisions 1
// and 2 and addrtype revision 0 (as older iptables did) into the kernel.
// iptables-legacy 1.8.9 lists them only as "[unsupported revision]"; this
// package lists them in full, and its listing parses back into current
// revisions that mean the same.
func TestOracleOldConntrackRevisions(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireCommand(t, "iptables-legacy")
	ns := testenv.NewNetns(t)
	conn, err := kernel.OpenInNetns(abi.IPv4, ns.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tab, _, _, err := conn.ReadTable("filter")
	if err != nil {
		t.Fatal(err)
	}
	zero := netip.AddrFrom4([4]byte{})
	ip := abi.IPHeader{Src: zero, Dst: zero, SrcMask: zero, DstMask: zero}
	var src [16]byte
	copy(src[:], []byte{198, 18, 0, 0})
	var mask [16]byte
	copy(mask[:], []byte{255, 254, 0, 0})
	for _, rev := range []uint8{1, 2} {
		for _, m := range []*xt.ConntrackOld{
			{Revision: rev, MatchFlags: xt.CTState, StateMask: xt.CTStateNew | xt.CTStateEstablished},
			{Revision: rev, MatchFlags: xt.CTState | xt.CTStateAlias, InvertFlags: xt.CTState, StateMask: xt.CTStateInvalid},
			{Revision: rev, MatchFlags: xt.CTOrigSrc | xt.CTProto | xt.CTOrigDstPort | xt.CTStatus, L4Proto: 6,
				Addrs: [8][16]byte{0: src, 1: mask}, Ports: [4]uint16{1: 0x1600}, StatusMask: xt.CTStatusAssured},
		} {
			tab.Chain("INPUT").Rules = append(tab.Chain("INPUT").Rules, &abi.Rule{IP: ip,
				Matches: []abi.Match{abi.NewMatch("conntrack", rev, m)},
				Target:  abi.Target{Kind: abi.TargetVerdict, Verdict: abi.VerdictAccept}})
		}
	}
	tab.Chain("INPUT").Rules = append(tab.Chain("INPUT").Rules, &abi.Rule{IP: ip,
		Matches: []abi.Match{abi.NewMatch("addrtype", 0, &xt.AddrtypeV0{Source: 1 << 2, Dest: 1<<3 | 1<<5, InvertDest: 1})},
		Target:  abi.Target{Kind: abi.TargetVerdict, Verdict: abi.VerdictDrop}})
	if _, err := conn.ReplaceTable(tab); err != nil {
		t.Fatal(err)
	}
	legacy := ns.Exec(t, "iptables-legacy", "-S", "INPUT")
	if !strings.Contains(legacy, "[unsupported revision]") {
		t.Logf("iptables-legacy now lists old revisions:\n%s", legacy)
	}
	kt, _, _, err := conn.ReadTable("filter")
	if err != nil {
		t.Fatal(err)
	}
	ts := NewTables(abi.IPv4)
	ts.Set(kt)
	var ours bytes.Buffer
	if code := Main(ts, []string{"-S", "INPUT"}, &ours, &ours); code != 0 {
		t.Fatalf("-S: %d %s", code, ours.String())
	}
	lines := strings.Split(strings.TrimSpace(ours.String()), "\n")[1:]
	if len(lines) != 7 || strings.Contains(ours.String(), "unsupported") {
		t.Fatalf("-S listing:\n%s", ours.String())
	}
	back := NewTables(abi.IPv4)
	for i, l := range lines {
		if code := Main(back, strings.Fields(l), &ours, &ours); code != 0 {
			t.Fatalf("%q does not parse back: %s", l, ours.String())
		}
		bt, _ := back.Table("filter")
		got := bt.Chain("INPUT").Rules[i].Matches[0]
		switch o := kt.Chain("INPUT").Rules[i].Matches[0].Info.(type) {
		case *xt.ConntrackOld:
			if got.Revision != 3 || *got.Info.(*xt.Conntrack) != *o.AsV3() {
				t.Errorf("%q: parsed back as %+v, want %+v", l, got.Info, o.AsV3())
			}
		case *xt.AddrtypeV0:
			if got.Revision != 1 || *got.Info.(*xt.Addrtype) != *addrtypeV1(o) {
				t.Errorf("%q: parsed back as %+v, want %+v", l, got.Info, addrtypeV1(o))
			}
		default:
			t.Fatalf("unexpected match %T", o)
		}
	}
}
