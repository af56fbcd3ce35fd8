package translate

import "fmt"

// Error is a refusal: an iptables rule (or chain) uses a feature that is
// not translated.
type Error struct {
	// Chain is the iptables chain name.
	Chain string
	// Rule is the 1-based rule number in the chain (0: the chain itself).
	Rule int
	// Text is the rule as iptables -S prints it ("" when unknown).
	Text string
	// Feature names what is not supported, e.g. "match mac".
	Feature string
	// Reason says why, when there is more to say.
	Reason string
}

// Error prints "chain INPUT rule 3 (-A INPUT ...): match mac is not supported: reason".
func (e *Error) Error() string {
	loc := fmt.Sprintf("chain %s", e.Chain)
	if e.Rule > 0 {
		loc += fmt.Sprintf(" rule %d", e.Rule)
	}
	if e.Text != "" {
		loc += fmt.Sprintf(" (%s)", e.Text)
	}
	msg := fmt.Sprintf("%s: %s is not supported", loc, e.Feature)
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	return msg
}
