package abi

import (
	"bytes"
	"testing"
)

// TestServeRoundTrip plays both sides: a replace request decodes into the
// table, and the get-info/get-entries answers for it decode back to the
// same entries, as iptables would read them.
func TestServeRoundTrip(t *testing.T) {
	for _, fam := range []Family{IPv4, IPv6} {
		tab := sampleTable(fam)
		tab.Chain("INPUT").Rules[0].Counters = Counters{Packets: 3, Bytes: 300}
		rep, blob, err := Encode(tab)
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := DecodeReplace(fam, rep.Marshal(blob))
		if err != nil {
			t.Fatal(err)
		}
		info, err := AnswerGetInfo(got)
		if err != nil {
			t.Fatal(err)
		}
		if info != rep.Info() {
			t.Errorf("%s: get-info %+v, want %+v", fam, info, rep.Info())
		}
		if _, err := AnswerGetEntries(got, info.Size+8); err == nil {
			t.Errorf("%s: wrong size accepted", fam)
		}
		ans, err := AnswerGetEntries(got, info.Size)
		if err != nil {
			t.Fatal(err)
		}
		name, entries, err := UnmarshalGetEntries(ans)
		if err != nil || name != "filter" || !bytes.Equal(entries, blob) {
			t.Errorf("%s: get-entries answer differs (%v)", fam, err)
		}
		back, err := Decode(fam, info, entries)
		if err != nil {
			t.Fatal(err)
		}
		if c := back.Chain("INPUT").Rules[0].Counters; c != (Counters{Packets: 3, Bytes: 300}) {
			t.Errorf("%s: counters %+v not carried in the answer", fam, c)
		}
	}
}
