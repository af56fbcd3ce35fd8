package abi

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// sampleTable is a filter table with a user chain, a jump, a goto and a
// fallthrough rule.
func sampleTable(fam Family) *Table {
	zero := netip.AddrFrom4([4]byte{})
	if fam == IPv6 {
		zero = netip.IPv6Unspecified()
	}
	ip := IPHeader{Src: zero, Dst: zero, SrcMask: zero, DstMask: zero}
	gotoIP := ip
	if fam == IPv6 {
		gotoIP.Flags = FlagV6Goto
	} else {
		gotoIP.Flags = FlagGoto
	}
	return &Table{Name: "filter", Family: fam, ValidHooks: 1<<HookLocalIn | 1<<HookForward | 1<<HookLocalOut,
		Chains: []*Chain{
			{Name: "INPUT", Hook: HookLocalIn, Policy: VerdictAccept, Rules: []*Rule{
				{IP: ip, Target: Target{Kind: TargetJump, Chain: "user"}},
				{IP: ip, Matches: []Match{{Name: "unknownmatch", Revision: 7, Data: []byte{1, 2, 3, 4, 5, 6, 7, 8}}},
					Target: Target{Kind: TargetFallthrough}},
			}},
			{Name: "FORWARD", Hook: HookForward, Policy: VerdictDrop, Rules: []*Rule{
				{IP: gotoIP, Target: Target{Kind: TargetJump, Chain: "user"}},
			}},
			{Name: "OUTPUT", Hook: HookLocalOut, Policy: VerdictAccept},
			{Name: "user", Hook: -1, Rules: []*Rule{
				{IP: ip, Target: Target{Kind: TargetExtension, Name: "UNKNOWNTG", Data: make([]byte, 16)}},
				{IP: ip, Target: Target{Kind: TargetVerdict, Verdict: VerdictReturn}},
			}},
		}}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	for _, fam := range []Family{IPv4, IPv6} {
		tab := sampleTable(fam)
		rep, blob, err := Encode(tab)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(fam, rep.Info(), blob)
		if err != nil {
			t.Fatalf("%s: %v", fam, err)
		}
		_, blob2, err := Encode(got)
		if err != nil {
			t.Fatal(err)
		}
		if string(blob) != string(blob2) {
			t.Fatalf("%s: decode+encode changed the blob\n%s", fam, DiffBlobs(fam, blob2, blob))
		}
		u := got.Chain("INPUT").Rules[1].Matches[0]
		if u.Name != "unknownmatch" || u.Revision != 7 || u.Info != nil || len(u.Data) != 8 {
			t.Errorf("%s: unknown match not kept as raw bytes: %+v", fam, u)
		}
		if got.Chain("FORWARD").Rules[0].Target.Chain != "user" {
			t.Errorf("%s: goto target lost", fam)
		}
	}
}

// corrupt encodes the sample table, lets f damage the header or blob, and
// returns Decode's error.
func corrupt(t *testing.T, fam Family, f func(info *Info, blob []byte) []byte) error {
	t.Helper()
	rep, blob, err := Encode(sampleTable(fam))
	if err != nil {
		t.Fatal(err)
	}
	info := rep.Info()
	blob = f(&info, blob)
	info.Size = uint32(len(blob))
	_, err = Decode(fam, info, blob)
	return err
}

func TestDecodeRefusesBadBlobs(t *testing.T) {
	es := IPv4EntrySize
	_, noOff := v4OffTargetOffset, v4OffNextOffset
	cases := []struct {
		name string
		want string
		f    func(info *Info, blob []byte) []byte
	}{
		{"truncated", "bytes left", func(_ *Info, b []byte) []byte { return b[:len(b)-8] }},
		{"next_offset too small", "next_offset", func(_ *Info, b []byte) []byte { ne.PutUint16(b[noOff:], 8); return b }},
		{"next_offset past end", "runs past the end", func(_ *Info, b []byte) []byte { ne.PutUint16(b[noOff:], 0xfff8); return b }},
		{"next_offset unaligned", "aligned", func(_ *Info, b []byte) []byte {
			ne.PutUint16(b[noOff:], uint16(ne.Uint16(b[noOff:])+4))
			return b
		}},
		{"target_offset", "target_offset", func(_ *Info, b []byte) []byte { ne.PutUint16(b[v4OffTargetOffset:], 4); return b }},
		{"target size", "target", func(_ *Info, b []byte) []byte { ne.PutUint16(b[es:], 200); return b }},
		{"hook entry not on boundary", "not an entry boundary", func(i *Info, b []byte) []byte { i.HookEntry[HookLocalIn] = 4; return b }},
		{"underflow not on boundary", "not an entry boundary", func(i *Info, b []byte) []byte { i.Underflow[HookForward] = 12; return b }},
		{"underflow not a policy", "underflow", func(i *Info, b []byte) []byte {
			i.Underflow[HookLocalIn] = 0
			return b
		}},
		{"num_entries", "num_entries", func(i *Info, b []byte) []byte { i.NumEntries++; return b }},
		{"jump into the middle", "not the start of a user chain", func(i *Info, b []byte) []byte {
			ne.PutUint32(b[es+ExtHeaderSize:], i.Underflow[HookLocalIn])
			return b
		}},
		{"jump into a builtin chain", "jumps into builtin chain", func(i *Info, b []byte) []byte {
			ne.PutUint32(b[es+ExtHeaderSize:], i.HookEntry[HookForward])
			return b
		}},
		{"bad verdict", "not a netfilter verdict", func(_ *Info, b []byte) []byte {
			ne.PutUint32(b[es+ExtHeaderSize:], uint32(0xffffff00))
			return b
		}},
		{"no final ERROR", "final ERROR", func(_ *Info, b []byte) []byte {
			copy(b[len(b)-ErrorTargetSize+2:], "XXXXX")
			return b
		}},
		{"bad valid_hooks", "valid_hooks", func(i *Info, b []byte) []byte { i.ValidHooks |= 1 << 7; return b }},
	}
	for _, c := range cases {
		err := corrupt(t, IPv4, c.f)
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		if !errors.Is(err, ErrBadBlob) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q, want ErrBadBlob mentioning %q", c.name, err, c.want)
		}
	}
}

func TestDecodeRefusesLoops(t *testing.T) {
	tab := sampleTable(IPv4)
	user := tab.Chain("user")
	user.Rules = append(user.Rules, &Rule{IP: tab.Chain("INPUT").Rules[0].IP, Target: Target{Kind: TargetJump, Chain: "user"}})
	rep, blob, err := Encode(tab)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Decode(IPv4, rep.Info(), blob)
	if err == nil || !strings.Contains(err.Error(), "loop between chains") {
		t.Fatalf("self-jump: got %v, want a loop error", err)
	}
}

func FuzzDecode(f *testing.F) {
	for _, fam := range []Family{IPv4, IPv6} {
		rep, blob, err := Encode(sampleTable(fam))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(fam), rep.Marshal(blob))
	}
	f.Fuzz(func(t *testing.T, fam uint8, req []byte) {
		rep, blob, err := UnmarshalReplace(req)
		if err != nil {
			return
		}
		tab, err := Decode(Family(fam), rep.Info(), blob)
		if err != nil {
			return
		}
		// Whatever decodes must encode again and decode to the same table.
		rep2, blob2, err := Encode(tab)
		if err != nil {
			t.Fatalf("decoded table does not encode: %v", err)
		}
		if _, err := Decode(Family(fam), rep2.Info(), blob2); err != nil {
			t.Fatalf("re-encoded table does not decode: %v", err)
		}
	})
}
