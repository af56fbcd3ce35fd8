package cli

import (
	"reflect"
	"testing"

	"github.com/bpfilter-go/bpfilter/ir"
)

// stripOrigins returns a copy of rs without origins, for comparisons.
func stripOrigins(rs *ir.Ruleset) *ir.Ruleset {
	out := rs.Clone()
	for _, c := range out.Chains {
		c.Origin = ir.Origin{}
		for _, r := range c.Rules {
			r.Origin = ir.Origin{}
		}
	}
	return out
}

// checkRoundTrip formats rs, parses the text back and reports whether the
// IR is unchanged.
func checkRoundTrip(t *testing.T, id string, rs *ir.Ruleset) bool {
	t.Helper()
	text := Format(rs)
	back, err := Parse(id+"(formatted)", []byte(text), testEnv)
	if err != nil {
		t.Errorf("%s: formatted text does not parse: %v\n%s", id, err, text)
		return false
	}
	if a, b := stripOrigins(rs), stripOrigins(back); !reflect.DeepEqual(a, b) {
		t.Errorf("%s: round trip changed the IR\nformatted:\n%s\nreformatted:\n%s", id, text, Format(back))
		return false
	}
	return true
}
