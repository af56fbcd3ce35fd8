package iptables

import "testing"

// TestParseUint checks the number syntax iptables-legacy 1.8.9 accepts
// (xtables_strtoul_base, base 0), observed with `-m limit --limit-burst`,
// `-m length --length`, `-m mark --mark` and `-m ttl --ttl-eq`.
func TestParseUint(t *testing.T) {
	for _, c := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"5", 5, true},
		{" 5", 5, true},
		{"\t+5", 5, true},
		{"+5", 5, true},
		{"0x10", 16, true},
		{"0X1f", 31, true},
		{"010", 8, true},
		{"0", 0, true},
		{"00", 0, true},
		{"5 ", 0, false},
		{"-0", 0, false},
		{" -5", 0, false},
		{"", 0, false},
		{" ", 0, false},
		{"+", 0, false},
		{"++5", 0, false},
		{"0x", 0, false},
		{"0x-1", 0, false},
		{"1_000", 0, false},
		{"0b1", 0, false},
		{"0o7", 0, false},
		{"08", 0, false},
		{"10001", 0, false},
	} {
		got, ok := parseUint(c.in, 10000)
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("parseUint(%q) = %d, %v; want %d, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}
