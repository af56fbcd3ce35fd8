package xt

import (
	"errors"
	"reflect"
	"testing"
)

// TestLimitRoundTrip: struct xt_rateinfo decodes to what was encoded,
// kernel-private tail included, for both families.
func TestLimitRoundTrip(t *testing.T) {
	in := &Limit{Avg: 10000, Burst: 5, Prev: 0x1122334455667788, Credit: 160000, CreditCap: 160000, Cost: 32000, Master: 0xffff888012345678}
	for _, fam := range []Family{IPv4, IPv6} {
		out, err := Decode(Match, fam, "limit", 0, in.Marshal())
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(out, in) {
			t.Fatalf("%v: decoded %+v, want %+v", fam, out, in)
		}
	}
	if _, err := Decode(Match, IPv4, "limit", 0, make([]byte, 8)); err == nil {
		t.Error("a short xt_rateinfo decodes")
	}
}

func TestLimitKernelCheck(t *testing.T) {
	for _, c := range []struct {
		l  Limit
		ok bool
	}{
		{Limit{Avg: 600000, Burst: 2236}, true},  // 1/min at HZ 250
		{Limit{Avg: 600000, Burst: 2237}, false}, // refused by the kernel (iptables-legacy: ERANGE)
		{Limit{Avg: 10000, Burst: 0}, false},
		{Limit{Avg: 1, Burst: 100}, true}, // 10000/sec burst 100 (Synology)
	} {
		err := c.l.KernelCheck(250)
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrLimitRange)) {
			t.Errorf("%+v: %v, want ok=%v", c.l, err, c.ok)
		}
	}
}
