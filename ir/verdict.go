package ir

import "fmt"

// VerdictKind is what happens to a packet when a rule matches, or when no
// rule matches (the chain policy).
type VerdictKind uint8

// Verdict kinds. The order is part of the serialised format.
const (
	// Accept lets the packet through.
	Accept VerdictKind = iota
	// Drop discards the packet.
	Drop
	// Continue runs the rule's actions and goes on with the next rule.
	Continue
	// Next stops the chain and defers to the next program on the hook
	// (TCX_NEXT on TC; the same as Accept elsewhere).
	Next
	// Redirect sends the packet to another interface (XDP, TC).
	Redirect
	// Jump evaluates a user chain, then resumes after this rule on Return.
	Jump
	// Goto evaluates a user chain without coming back.
	Goto
	// Return leaves a user chain (in a base chain: the policy applies).
	Return
)

var verdictNames = [...]string{
	Accept: "ACCEPT", Drop: "DROP", Continue: "CONTINUE", Next: "NEXT",
	Redirect: "REDIRECT", Jump: "JUMP", Goto: "GOTO", Return: "RETURN",
}

// String returns the verdict kind's name as bfcli writes it.
func (k VerdictKind) String() string {
	if int(k) < len(verdictNames) {
		return verdictNames[k]
	}
	return fmt.Sprintf("VERDICT(%d)", uint8(k))
}

// Terminal reports whether the verdict ends rule evaluation in the chain.
func (k VerdictKind) Terminal() bool { return k != Continue && k != Jump }

// Direction is the direction of a REDIRECT.
type Direction uint8

// Redirect directions.
const (
	DirOut Direction = iota
	DirIn
)

// String returns "in" or "out".
func (d Direction) String() string {
	if d == DirIn {
		return "in"
	}
	return "out"
}

// Verdict is a verdict kind with its operand.
type Verdict struct {
	Kind VerdictKind
	// Ifindex and Dir are the REDIRECT target.
	Ifindex uint32
	Dir     Direction
	// Chain is the target of JUMP and GOTO.
	Chain string
}

// String prints the verdict as bfcli writes it.
func (v Verdict) String() string {
	switch v.Kind {
	case Redirect:
		return fmt.Sprintf("REDIRECT %d %s", v.Ifindex, v.Dir)
	case Jump, Goto:
		return fmt.Sprintf("%s %s", v.Kind, v.Chain)
	}
	return v.Kind.String()
}

// ValidPolicy reports whether the verdict can be a chain policy.
func (v Verdict) ValidPolicy() bool {
	return v.Kind == Accept || v.Kind == Drop || v.Kind == Next
}
