package engine_test

import (
	"regexp"
	"strconv"
	"testing"
)

func itoa(n int) string { return strconv.Itoa(n) }

var receivedRE = regexp.MustCompile(`(\d+) received`)

// received extracts the count of answered pings from ping's summary.
func received(t *testing.T, out string) int {
	t.Helper()
	m := receivedRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no ping summary in %q", out)
	}
	n, err := strconv.Atoi(m[1])
	if err != nil {
		t.Fatal(err)
	}
	return n
}
