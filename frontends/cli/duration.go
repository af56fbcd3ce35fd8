package cli

import (
	"fmt"
	"math/big"
	"regexp"
	"time"
)

// everyRE matches a log interval: a positive decimal number and a unit.
var everyRE = regexp.MustCompile(`^([0-9]{1,20})(?:\.([0-9]{1,9}))?(ns|us|ms|s)$`)

var unitNanos = map[string]int64{"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}

// parseEvery parses a log rate-limit interval such as "1s", "500ms" or
// "1.5s". The result must be at least one nanosecond.
func parseEvery(s string) (time.Duration, error) {
	m := everyRE.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("expected a positive number followed by ns, us, ms or s")
	}
	r, ok := new(big.Rat).SetString(m[1] + "." + m[2] + "0")
	if !ok {
		return 0, fmt.Errorf("invalid number")
	}
	r.Mul(r, new(big.Rat).SetInt64(unitNanos[m[3]]))
	if !r.IsInt() {
		return 0, fmt.Errorf("not a whole number of nanoseconds")
	}
	n := r.Num()
	if n.Sign() <= 0 {
		return 0, fmt.Errorf("must be positive")
	}
	if !n.IsInt64() || n.Int64() > int64(24*365*time.Hour) {
		return 0, fmt.Errorf("longer than a year")
	}
	return time.Duration(n.Int64()), nil
}

// formatEvery prints a duration with the largest unit that divides it.
func formatEvery(d time.Duration) string {
	switch {
	case d%time.Second == 0:
		return fmt.Sprintf("%ds", d/time.Second)
	case d%time.Millisecond == 0:
		return fmt.Sprintf("%dms", d/time.Millisecond)
	case d%time.Microsecond == 0:
		return fmt.Sprintf("%dus", d/time.Microsecond)
	}
	return fmt.Sprintf("%dns", int64(d))
}
