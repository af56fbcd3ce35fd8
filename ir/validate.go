package ir

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
)

// Error is a validation error located at an IR object.
type Error struct {
	Origin Origin
	Chain  string
	// Rule is the rule index in the chain, -1 for chain-level errors.
	Rule int
	Msg  string
}

// Error prints "origin: chain NAME, rule N: message".
func (e *Error) Error() string {
	var b bytes.Buffer
	if o := e.Origin.String(); o != "" {
		b.WriteString(o + ": ")
	}
	if e.Chain != "" {
		fmt.Fprintf(&b, "chain %s", e.Chain)
		if e.Rule >= 0 {
			fmt.Fprintf(&b, ", rule %d", e.Rule)
		}
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

var chainNameRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$`)

// ValidChainName reports whether s can name a chain (it is used in pin
// paths, so it is restricted to letters, digits, '_', '.' and '-').
func ValidChainName(s string) bool { return chainNameRE.MatchString(s) }

// Validate checks the whole ruleset and returns every problem found, joined.
func (rs *Ruleset) Validate() error {
	var errs []error
	seen := map[string]bool{}
	for _, c := range rs.Chains {
		if seen[c.Name] {
			errs = append(errs, &Error{Origin: c.Origin, Chain: c.Name, Rule: -1, Msg: "duplicate chain name"})
		}
		seen[c.Name] = true
		if err := c.validate(rs); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Validate checks a chain on its own (JUMP/GOTO targets cannot be checked).
func (c *Chain) Validate() error { return c.validate(nil) }

func (c *Chain) validate(rs *Ruleset) error {
	var errs []error
	chainErr := func(format string, a ...any) {
		errs = append(errs, &Error{Origin: c.Origin, Chain: c.Name, Rule: -1, Msg: fmt.Sprintf(format, a...)})
	}
	if !ValidChainName(c.Name) {
		chainErr("invalid chain name %q", c.Name)
	}
	if !c.Hook.Valid() {
		chainErr("invalid hook %d", c.Hook)
		return errors.Join(errs...)
	}
	if err := c.HookOpts.ValidateFor(c.Hook); err != nil {
		chainErr("%v", err)
	}
	if !c.Policy.ValidPolicy() {
		chainErr("%s is not a valid chain policy (use ACCEPT, DROP or NEXT)", c.Policy.Kind)
	}
	setNames := map[string]bool{}
	for _, s := range c.Sets {
		if setNames[s.Name] {
			chainErr("duplicate set name %q", s.Name)
		}
		setNames[s.Name] = true
		if err := s.validate(c.Hook); err != nil {
			chainErr("set %s: %v", s.Name, err)
		}
	}
	for i, r := range c.Rules {
		for _, msg := range c.ruleProblems(rs, r) {
			errs = append(errs, &Error{Origin: r.Origin, Chain: c.Name, Rule: i, Msg: msg})
		}
	}
	return errors.Join(errs...)
}

func (s *Set) validate(h Hook) error {
	if len(s.Key) == 0 {
		return fmt.Errorf("empty key")
	}
	for _, f := range s.Key {
		if !f.Valid() || !f.Info().InSet {
			return fmt.Errorf("%s cannot be used in a set key", f)
		}
		if !f.ValidOn(h) {
			return fmt.Errorf("%s is not supported by %s", f, h)
		}
		if f.Info().Kind.IsPrefix() && len(s.Key) > 1 {
			return fmt.Errorf("%s must be the only component of a set key", f)
		}
	}
	w := s.KeyWidth()
	maxBits := w * 8
	for i, e := range s.Elems {
		if len(e.Key) != w {
			return fmt.Errorf("element %d has %d bytes, want %d", i, len(e.Key), w)
		}
		if s.IsLPM() && (e.PrefixLen < 0 || e.PrefixLen > maxBits) {
			return fmt.Errorf("element %d has prefix length %d", i, e.PrefixLen)
		}
	}
	return nil
}

func (c *Chain) ruleProblems(rs *Ruleset, r *Rule) []string {
	var p []string
	h := c.Hook
	for _, m := range r.Matches {
		if m.Op == OpIn {
			s := c.Set(m.Set)
			if s == nil {
				p = append(p, fmt.Sprintf("unknown set %q", m.Set))
			}
			continue
		}
		if !m.Field.Valid() {
			p = append(p, fmt.Sprintf("invalid field %d", m.Field))
			continue
		}
		if !m.Field.ValidOn(h) {
			p = append(p, fmt.Sprintf("matcher %s is not supported by %s", m.Field, h))
		}
		if !m.Field.SupportsOp(m.Op) {
			p = append(p, fmt.Sprintf("matcher %s does not support operator %s", m.Field, m.Op))
		}
		if m.Field == MetaLimit && m.Mask != nil { // limit.go
			p = append(p, fmt.Sprintf("matcher %s takes no mask", m.Field))
		}
		w := m.Field.Width()
		if m.Op == OpRanges {
			p = append(p, rangesProblems(m)...)
			continue
		}
		if len(m.Value) != w || (m.Mask != nil && len(m.Mask) != w) {
			p = append(p, fmt.Sprintf("matcher %s: value has the wrong width", m.Field))
			continue
		}
		if m.Op == OpRange {
			if len(m.High) != w {
				p = append(p, fmt.Sprintf("matcher %s: range high bound has the wrong width", m.Field))
			} else if bytes.Compare(m.Value, m.High) > 0 {
				p = append(p, fmt.Sprintf("matcher %s: range %s is empty (start > end)", m.Field, m))
			}
		}
	}
	p = append(p, xtl4Problems(c, r)...) // ir/xtl4.go
	if r.Mark != nil && h.Flavour() != FlavourTC && h.Flavour() != FlavourCgroupSkb {
		p = append(p, fmt.Sprintf("mark is not supported by %s (only TC and cgroup_skb hooks can set a mark)", h))
	}
	if r.Log != nil {
		if h.IsSockAddr() && r.Log.Headers != LogAll && r.Log.Headers != 0 {
			p = append(p, fmt.Sprintf("log with headers is not supported by %s", h))
		}
	}
	v := r.Verdict
	switch v.Kind {
	case Accept, Drop, Continue, Next:
	case Redirect:
		switch {
		case h == HookXDP && v.Dir == DirIn:
			p = append(p, "REDIRECT on BF_HOOK_XDP only supports the out direction")
		case h != HookXDP && h.Flavour() != FlavourTC:
			p = append(p, fmt.Sprintf("REDIRECT is not supported by %s", h))
		}
		if v.Ifindex == 0 {
			p = append(p, "REDIRECT needs an interface")
		}
	case Jump, Goto:
		if rs == nil {
			break
		}
		t := rs.Chain(v.Chain)
		switch {
		case t == nil:
			p = append(p, fmt.Sprintf("%s to unknown chain %q", v.Kind, v.Chain))
		case !t.User:
			p = append(p, fmt.Sprintf("%s target %q is not a user chain", v.Kind, v.Chain))
		}
	case Return:
	default:
		p = append(p, fmt.Sprintf("invalid verdict %d", v.Kind))
	}
	return p
}
