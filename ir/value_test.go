package ir

import (
	"bytes"
	"math"
	"math/rand"
	"testing"
)

// randomValue returns a random valid value (and mask, for prefix kinds) of
// kind k.
func randomValue(r *rand.Rand, k ValueKind) (value, mask []byte) {
	w := k.Width()
	switch k {
	case KindIfindex:
		return putUint(uint64(1+r.Int63n(math.MaxUint32-1)), w), nil
	case KindProbability:
		return putUint(uint64(r.Int63n(ProbabilityScale+1)), w), nil
	case KindDSCP:
		return putUint(uint64(r.Intn(64)), w), nil
	case KindTCPFlags:
		return putUint(uint64(1+r.Intn(255)), w), nil
	case KindIfName:
		const letters = "abcxyz019.-_"
		name := make([]byte, r.Intn(IfNameSize))
		for i := range name {
			name[i] = letters[r.Intn(len(letters))]
		}
		s := string(name)
		if s == "" || r.Intn(2) == 0 {
			s += "+"
		}
		v, m, err := IfNameMatch(s)
		if err != nil {
			panic(err)
		}
		return v, m
	case KindIPv4Prefix, KindIPv6Prefix:
		v := make([]byte, w)
		r.Read(v)
		m := PrefixMask(r.Intn(w*8+1), w)
		for i := range v {
			v[i] &= m[i]
		}
		return v, m
	}
	v := make([]byte, w)
	r.Read(v)
	return v, nil
}

func TestValueFormatParseRoundTrip(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	kinds := map[ValueKind]bool{}
	for _, f := range Fields() {
		kinds[f.Info().Kind] = true
	}
	for k := range kinds {
		for i := 0; i < 2000; i++ {
			v, m := randomValue(r, k)
			if i == 0 && k == KindIPv6 {
				// An IPv4-mapped address must print in a form Parse accepts.
				v = []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 18, 0, 1}
			}
			s := k.Format(v, m)
			pv, pm, err := k.Parse(s, ParseEnv{})
			if err != nil {
				t.Fatalf("kind %d: Format(% x) = %q, which Parse refuses: %v", k, v, s, err)
			}
			if !bytes.Equal(pv, v) || !bytes.Equal(pm, m) {
				t.Fatalf("kind %d: %q parses to % x/% x, want % x/% x", k, s, pv, pm, v, m)
			}
		}
	}
}

func TestParseValueRefusals(t *testing.T) {
	for _, tc := range []struct {
		kind ValueKind
		in   string
	}{
		{KindIPv6, "::ffff:192.168.0.1"},
		{KindIPv6, "fe80::1%eth0"},
		{KindIPv4, "::1"},
		{KindIPv6Prefix, "::ffff:192.168.0.0/96"},
		{KindPort, "0x10"},
		{KindIfindex, "0"},
		{KindTCPFlags, "syn,,ack"},
		{KindProbability, "100.01%"},
	} {
		if v, _, err := tc.kind.Parse(tc.in, ParseEnv{}); err == nil {
			t.Errorf("kind %d: Parse(%q) = % x, want an error", tc.kind, tc.in, v)
		}
	}
}

func TestParseIPv4MappedHex(t *testing.T) {
	v, _, err := KindIPv6.Parse("::ffff:c612:1", ParseEnv{})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xc6, 0x12, 0, 1}
	if !bytes.Equal(v, want) {
		t.Fatalf("got % x, want % x", v, want)
	}
}
