package ir

import "testing"

// TestCtEntryFields: netfilter hooks only, no set keys, and the operators
// xt_conntrack's criteria need.
func TestCtEntryFields(t *testing.T) {
	n := 0
	for _, f := range Fields() {
		if !IsCtEntryField(f) {
			continue
		}
		n++
		for _, h := range Hooks() {
			if got, want := f.ValidOn(h), h.Flavour() == FlavourNF; got != want {
				t.Errorf("%s on %s: ValidOn = %v, want %v", f, h, got, want)
			}
		}
		rng := f == CtExpire || f == CtOrigSport || f == CtOrigDport || f == CtReplSport || f == CtReplDport
		if f.Info().InSet || f.SupportsOp(OpRange) != rng || f.SupportsOp(OpAny) != (f == CtStatus) || f.SupportsOp(OpEq) == (f == CtStatus) {
			t.Errorf("%s: wrong set or operator support", f)
		}
		if !ReadsConntrack(f) {
			t.Errorf("%s does not read conntrack", f)
		}
	}
	if n != 16 {
		t.Errorf("%d conntrack entry fields, want 16", n)
	}
}

// TestCtEntryEval: the fields read Packet.Ct with an entry and hold,
// negated or not, without one.
func TestCtEntryEval(t *testing.T) {
	p := &Packet{L3Proto: EthPIP, NFCT: 0x1000 | 3, CtProto: ProtoUDP, Ct: CtEntry{
		Status: CtStatusAssured, Expire: 42,
		Orig:  CtTuple{Src: [16]byte{198, 18, 0, 7}, Dst: [16]byte{198, 18, 0, 2}, Sport: 5000, Dport: 53},
		Reply: CtTuple{Src: [16]byte{198, 18, 0, 2}, Dst: [16]byte{198, 18, 0, 7}, Sport: 53, Dport: 5000},
	}}
	pp := Parse(p)
	c := &Chain{Hook: HookNFLocalIn}
	for _, x := range []struct {
		m    Match
		want bool
	}{
		{Match{Field: CtDir, Op: OpEq, Value: []byte{CtDirReply}}, true},
		{Match{Field: CtDir, Op: OpEq, Value: []byte{CtDirOriginal}}, false},
		{Match{Field: CtStatus, Op: OpAny, Value: KindCtStatus.UintValue(CtStatusAssured | CtStatusExpected)}, true},
		{Match{Field: CtStatus, Op: OpAny, Value: KindCtStatus.UintValue(CtStatusExpected)}, false},
		{Match{Field: CtExpire, Op: OpRange, Value: KindU32.UintValue(40), High: KindU32.UintValue(50)}, true},
		{Match{Field: CtExpire, Op: OpEq, Negate: true, Value: KindU32.UintValue(42)}, false},
		{Match{Field: CtOrigSaddr4, Op: OpEq, Value: []byte{198, 18, 0, 0}, Mask: []byte{255, 255, 255, 0}}, true},
		{Match{Field: CtReplSaddr4, Op: OpEq, Value: []byte{198, 18, 0, 7}}, false},
		{Match{Field: CtOrigDport, Op: OpEq, Value: KindPort.UintValue(53)}, true},
		{Match{Field: CtReplDport, Op: OpRange, Value: KindPort.UintValue(1), High: KindPort.UintValue(4999)}, false},
		{Match{Field: CtProto, Op: OpEq, Value: []byte{ProtoUDP}}, true},
	} {
		if got := MatchHolds(c, &x.m, p, &pp); got != x.want {
			t.Errorf("%s with an entry: %v, want %v", &x.m, got, x.want)
		}
		for _, nfct := range []uint64{0, CtInfoUntracked} {
			q := *p
			q.NFCT = nfct
			for _, neg := range []bool{false, true} {
				m := x.m
				m.Negate = neg
				if !MatchHolds(c, &m, &q, &pp) {
					t.Errorf("%s without an entry (nfct %d) does not hold", &m, nfct)
				}
			}
		}
	}
}

// TestCtEntryValues: parse and print round-trip.
func TestCtEntryValues(t *testing.T) {
	for _, x := range []struct {
		k    ValueKind
		in   string
		want string
	}{
		{KindCtDir, "original", "ORIGINAL"}, {KindCtDir, "REPLY", "REPLY"},
		{KindCtStatus, "NONE", "NONE"}, {KindCtStatus, "seen_reply,ASSURED", "SEEN_REPLY,ASSURED"},
		{KindCtStatus, "CONFIRMED,EXPECTED", "EXPECTED,CONFIRMED"}, {KindCtStatus, "0x30", "SRC_NAT,DST_NAT"}, {KindCtStatus, "0x41", "EXPECTED,0x40"},
	} {
		v, _, err := x.k.Parse(x.in, ParseEnv{})
		if err != nil {
			t.Fatalf("%q: %v", x.in, err)
		}
		if got := x.k.Format(v, nil); got != x.want {
			t.Errorf("%q printed as %q, want %q", x.in, got, x.want)
		}
	}
	for _, bad := range []string{"SIDEWAYS", ""} {
		if _, _, err := KindCtDir.Parse(bad, ParseEnv{}); err == nil {
			t.Errorf("direction %q parsed", bad)
		}
	}
	if _, _, err := KindCtStatus.Parse("SEEN", ParseEnv{}); err == nil {
		t.Error("status SEEN parsed")
	}
}
