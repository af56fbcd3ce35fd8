package ir

import "testing"

func TestRangesEvalAndValidate(t *testing.T) {
	m := Match{Field: TCPDport, Op: OpRanges,
		Value: []byte{0, 22, 0x03, 0xe8, 0xff, 0xff},
		High:  []byte{0, 22, 0x07, 0xd0, 0xff, 0xff}}
	if got := m.String(); got != "tcp.dport ranges 22,1000-2000,65535" {
		t.Errorf("String = %q", got)
	}
	c := &Chain{Name: "r", Hook: HookNFLocalIn, Policy: Verdict{Kind: Accept}, Rules: []*Rule{{Matches: []Match{m}, Verdict: Verdict{Kind: Drop}}}}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	for port, want := range map[uint16]bool{22: true, 23: false, 999: false, 1000: true, 1500: true, 2000: true, 2001: false, 65535: true, 0: false} {
		pkt := &Packet{L3Proto: EthPIP, Data: append([]byte{0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2},
			byte(0), byte(1), byte(port>>8), byte(port), 0, 0, 0, 0, 0, 0, 0, 0, 0x50, 0, 0, 0, 0, 0, 0, 0)}
		for _, neg := range []bool{false, true} {
			c.Rules[0].Matches[0].Negate = neg
			if got := Eval(nil, c, pkt).Verdict.Kind == Drop; got != (want != neg) {
				t.Errorf("port %d negate %v: matched %v", port, neg, got)
			}
		}
	}
	c.Rules[0].Matches[0].Negate = false
	bad := []Match{
		{Field: TCPDport, Op: OpRanges, Value: []byte{0, 5}, High: []byte{0, 4}},
		{Field: TCPDport, Op: OpRanges, Value: []byte{0, 5, 1}, High: []byte{0, 6, 1}},
		{Field: TCPDport, Op: OpRanges, Value: make([]byte, 32), High: make([]byte, 32)},
		{Field: TCPFlags, Op: OpRanges, Value: []byte{1}, High: []byte{2}},
	}
	for _, b := range bad {
		c.Rules[0].Matches[0] = b
		if err := c.Validate(); err == nil {
			t.Errorf("%v validated", b)
		}
	}
}

// TestMatchStringMask: a mask on a non-prefix kind is printed (it was
// dropped, so a --ctorigsrc 10.0.0.0/8 match printed as a host match).
func TestMatchStringMask(t *testing.T) {
	m := Match{Field: CtOrigSaddr4, Op: OpEq, Value: []byte{10, 0, 0, 0}, Mask: []byte{255, 0, 0, 0}}
	if got, want := m.String(), "ct.orig.saddr4 eq 10.0.0.0/mask:255.0.0.0"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
