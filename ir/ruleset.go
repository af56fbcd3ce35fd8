package ir

import (
	"fmt"
	"time"
)

// Ruleset is every chain bpfilter manages.
type Ruleset struct {
	Chains []*Chain
}

// Chain returns the chain with the given name, or nil.
func (rs *Ruleset) Chain(name string) *Chain {
	for _, c := range rs.Chains {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Chain is an ordered list of rules attached to a hook. A chain with no hook
// options is loaded but not attached. A user chain (IsUser) has no hook and
// is only reached through JUMP/GOTO from another chain of the same ruleset.
type Chain struct {
	Name     string
	Hook     Hook
	HookOpts HookOpts
	// Policy applies when no terminal rule matches.
	Policy Verdict
	// Sets are the chain's named sets, and the anonymous sets its rules
	// refer to (those have Anonymous set and a generated name).
	Sets  []*Set
	Rules []*Rule
	// User marks a chain that is only reached by JUMP/GOTO.
	User bool
	// Origin tells where the chain came from.
	Origin Origin
}

// Set returns the chain's set with the given name, or nil.
func (c *Chain) Set(name string) *Set {
	for _, s := range c.Sets {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Origin records where an IR object came from, so errors and listings can
// point at what the user wrote.
type Origin struct {
	// Frontend is "cli", "iptables" or "nftables".
	Frontend string
	// File, Line and Column locate bfcli text (Line 0: unknown).
	File   string
	Line   int
	Column int
	// Text is the user's own words (an iptables rule, an nft handle...).
	Text string
}

// String prints the origin for error messages ("" when unknown).
func (o Origin) String() string {
	switch {
	case o.Line > 0 && o.File != "":
		return fmt.Sprintf("%s:%d:%d", o.File, o.Line, o.Column)
	case o.Line > 0:
		return fmt.Sprintf("%d:%d", o.Line, o.Column)
	case o.Text != "":
		return o.Text
	}
	return ""
}

// LogHeaders is a bit set of the packet layers a log action records.
type LogHeaders uint8

// Log header layers.
const (
	LogLink LogHeaders = 1 << iota
	LogInternet
	LogTransport
	// LogAll is what a bare "log" records.
	LogAll = LogLink | LogInternet | LogTransport
)

// Log is a rule's log action.
type Log struct {
	Headers LogHeaders
	// Every rate-limits entries to one per interval per rule (0: all).
	Every time.Duration
	// Prefix is a free-form prefix (iptables --log-prefix).
	Prefix string
}

// Rule is a conjunction of matches, optional actions and a verdict.
type Rule struct {
	Matches []Match
	// Counter requests per-rule packet and byte counters. The backend
	// counts every rule; Counter decides whether listings show them.
	Counter bool
	Log     *Log
	// Mark, when set, is written to the packet's mark (TC, cgroup_skb).
	Mark    *uint32
	Verdict Verdict
	Origin  Origin
}

// Op is a match operator.
type Op uint8

// Match operators.
const (
	// OpEq: (field & mask) == value.
	OpEq Op = iota
	// OpRange: value <= field <= high, as unsigned big-endian integers.
	OpRange
	// OpIn: the key built from the set's fields is an element of Set.
	OpIn
	// OpAny: field & value != 0 (flag bits).
	OpAny
	// OpAll: field & value == value (flag bits).
	OpAll
	// OpRanges: the field is in one of up to MaxRanges inclusive ranges:
	// Value holds the low bounds and High the high bounds, concatenated
	// (n ranges: n * width bytes each) (iptables multiport).
	OpRanges
)

// MaxRanges bounds the ranges of an OpRanges match (XT_MULTI_PORTS).
const MaxRanges = 15

var opNames = [...]string{OpEq: "eq", OpRange: "range", OpIn: "in", OpAny: "any", OpAll: "all", OpRanges: "ranges"}

// String returns the operator as bfcli writes it.
func (o Op) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// ParseOp parses an operator keyword.
func ParseOp(s string) (Op, bool) {
	for i, n := range opNames {
		if n == s {
			return Op(i), true
		}
	}
	return 0, false
}

// Match is one criterion of a rule: (packet[Field] & Mask) Op Value, or,
// for OpIn, membership of the set named Set. Negate inverts the result,
// except that a match on a missing header is always false.
type Match struct {
	Field  Field
	Op     Op
	Negate bool
	// Value is big-endian, Field.Width() bytes. For OpRange it is the low
	// bound.
	Value []byte
	// Mask is applied to the packet field before comparing (nil: all ones).
	// Prefix fields (ip4.snet...) carry the prefix mask here.
	Mask []byte
	// High is the inclusive high bound of OpRange.
	High []byte
	// Set names the chain set of an OpIn match.
	Set string
}

// Set is a set of keys built from one or more fields. A set whose single key
// field is a prefix field (ip4.snet, ip6.dnet...) is a longest-prefix-match
// set: each element carries its prefix length.
type Set struct {
	Name string
	// Anonymous sets were written inline in a rule.
	Anonymous bool
	Key       []Field
	Elems     []SetElem
}

// SetElem is one element of a set: the concatenated big-endian values of
// the key fields, and the prefix length for LPM sets.
type SetElem struct {
	Key       []byte
	PrefixLen int
}

// KeyWidth is the byte width of the set's keys.
func (s *Set) KeyWidth() int {
	n := 0
	for _, f := range s.Key {
		n += f.Width()
	}
	return n
}

// IsLPM reports whether the set matches by longest prefix.
func (s *Set) IsLPM() bool {
	return len(s.Key) == 1 && s.Key[0].Info().Kind.IsPrefix()
}

// Clone returns a deep copy of the ruleset.
func (rs *Ruleset) Clone() *Ruleset {
	out := &Ruleset{Chains: make([]*Chain, len(rs.Chains))}
	for i, c := range rs.Chains {
		out.Chains[i] = c.Clone()
	}
	return out
}

// Clone returns a deep copy of the chain.
func (c *Chain) Clone() *Chain {
	n := *c
	n.Sets = make([]*Set, len(c.Sets))
	for i, s := range c.Sets {
		ns := *s
		ns.Key = append([]Field(nil), s.Key...)
		ns.Elems = make([]SetElem, len(s.Elems))
		for j, e := range s.Elems {
			ns.Elems[j] = SetElem{Key: append([]byte(nil), e.Key...), PrefixLen: e.PrefixLen}
		}
		n.Sets[i] = &ns
	}
	n.Rules = make([]*Rule, len(c.Rules))
	for i, r := range c.Rules {
		nr := *r
		nr.Matches = make([]Match, len(r.Matches))
		for j, m := range r.Matches {
			nm := m
			nm.Value = append([]byte(nil), m.Value...)
			nm.Mask = append([]byte(nil), m.Mask...)
			nm.High = append([]byte(nil), m.High...)
			if m.Mask == nil {
				nm.Mask = nil
			}
			if m.High == nil {
				nm.High = nil
			}
			nr.Matches[j] = nm
		}
		if r.Log != nil {
			l := *r.Log
			nr.Log = &l
		}
		if r.Mark != nil {
			mk := *r.Mark
			nr.Mark = &mk
		}
		n.Rules[i] = &nr
	}
	return &n
}
