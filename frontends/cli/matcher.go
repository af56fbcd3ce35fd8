package cli

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/bpfilter-go/bpfilter/ir"
)

// opNames lists the operators for messages.
func opNames(f ir.Field) string {
	var out []string
	for _, op := range []ir.Op{ir.OpEq, ir.OpRange, ir.OpAny, ir.OpAll, ir.OpIn} {
		if f.SupportsOp(op) {
			out = append(out, op.String())
		}
	}
	return strings.Join(out, ", ")
}

// checkFieldHook refuses a field the chain's hook cannot match.
func (p *parser) checkFieldHook(t token, f ir.Field, h ir.Hook) error {
	if !f.ValidOn(h) {
		return p.errf(t, "matcher %s is not supported by %s", f, h)
	}
	return nil
}

// parseMatcher parses "[not] [OP] VALUE" after the field word t.
func (p *parser) parseMatcher(st *chainState, t token, f ir.Field) (ir.Match, error) {
	m := ir.Match{Field: f, Op: ir.OpEq}
	if isWord(p.peek(), "not") {
		p.next()
		m.Negate = true
	}
	if n := p.peek(); n.kind == tWord {
		if op, ok := ir.ParseOp(n.text); ok {
			p.next()
			if op == ir.OpIn {
				return m, p.errf(n, "matcher %s: the in operator needs a set key in parentheses, e.g. (%s) in { ... }", f, f)
			}
			m.Op = op
		}
	}
	if !f.SupportsOp(m.Op) {
		return m, p.errf(t, "matcher %s does not support operator %s (supported: %s)", f, m.Op, opNames(f))
	}
	if err := p.checkFieldHook(t, f, st.chain.Hook); err != nil {
		return m, err
	}
	vt := p.next()
	if vt.kind != tWord {
		return m, p.errf(vt, "matcher %s needs a value, got %s", f, vt.describe())
	}
	text := p.joined(vt)
	kind := f.Info().Kind
	if m.Op == ir.OpRange {
		lo, hi, ok := strings.Cut(text, "-")
		if !ok {
			return m, p.errf(vt, "invalid range %q for %s (expected START-END)", text, f)
		}
		lv, _, err := kind.Parse(lo, p.env)
		if err != nil {
			return m, p.errf(vt, "invalid range %q for %s: %v", text, f, err)
		}
		hv, _, err := kind.Parse(hi, p.env)
		if err != nil {
			return m, p.errf(vt, "invalid range %q for %s: %v", text, f, err)
		}
		if bytes.Compare(lv, hv) > 0 {
			return m, p.errf(vt, "invalid range %q for %s: start is greater than end", text, f)
		}
		m.Value, m.High = lv, hv
		return m, nil
	}
	v, mask, err := kind.Parse(text, p.env)
	if err != nil {
		return m, p.valueErr(vt, text, f, err)
	}
	m.Value, m.Mask = v, mask
	return m, nil
}

// valueErr records an invalid value for field f, quoting the user's text
// once.
func (p *parser) valueErr(t token, text string, f ir.Field, err error) error {
	if strings.Contains(err.Error(), strconv.Quote(text)) {
		return p.errf(t, "%s: %v", f, err)
	}
	return p.errf(t, "invalid value %q for %s: %v", text, f, err)
}

// keyField is one parsed component of a set key.
type keyField struct {
	field ir.Field
	tok   token
}

// parseKey parses "(FIELD, ...)" and checks the fields can be set keys on
// hook h.
func (p *parser) parseKey(h ir.Hook) ([]ir.Field, error) {
	open := p.next()
	if open.kind != tLParen {
		return nil, p.errf(open, "expected a set key such as (ip4.saddr), got %s", open.describe())
	}
	var key []keyField
	for {
		t := p.next()
		if t.kind != tWord {
			return nil, p.errf(t, "expected a matcher name in set key, got %s", t.describe())
		}
		f, ok := ir.LookupField(t.text)
		if !ok {
			return nil, p.errf(t, "unknown matcher %q in set key%s", t.text, didYouMean(t.text, fieldNames()))
		}
		key = append(key, keyField{f, t})
		sep := p.next()
		if sep.kind == tRParen {
			break
		}
		if sep.kind != tComma {
			return nil, p.errf(sep, "expected \",\" or \")\" in set key, got %s", sep.describe())
		}
	}
	fields := make([]ir.Field, len(key))
	for i, k := range key {
		fields[i] = k.field
		if !k.field.Info().InSet {
			return nil, p.errf(k.tok, "matcher %s cannot be used in a set key", k.field)
		}
		if !k.field.ValidOn(h) {
			return nil, p.errf(k.tok, "matcher %s is not supported by %s", k.field, h)
		}
		if k.field.Info().Kind.IsPrefix() && len(key) > 1 {
			return nil, p.errf(k.tok, "%s must be the only component of a set key", k.field)
		}
	}
	return fields, nil
}

// keyString prints a set key as written: "(ip4.saddr, tcp.dport)".
func keyString(key []ir.Field) string {
	parts := make([]string, len(key))
	for i, f := range key {
		parts[i] = f.String()
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// parseElems parses "{ elem; elem \n elem }" for a set with the given key.
func (p *parser) parseElems(key []ir.Field) ([]ir.SetElem, error) {
	open := p.next()
	if open.kind != tLBrace {
		return nil, p.errf(open, "expected \"{\" to start the set elements, got %s", open.describe())
	}
	elems := []ir.SetElem{}
	for {
		t := p.nextRaw()
		switch t.kind {
		case tNewline, tSemi:
			continue
		case tRBrace:
			return elems, nil
		case tEOF:
			return nil, p.errf(open, "set elements are not closed with \"}\"")
		case tWord:
		default:
			return nil, p.errf(t, "expected a set element, got %s", t.describe())
		}
		e, err := p.parseElem(t, key)
		if err != nil {
			return nil, err
		}
		elems = append(elems, e)
		switch n := p.peekRaw(); n.kind {
		case tNewline, tSemi, tRBrace:
		case tEOF:
			return nil, p.errf(open, "set elements are not closed with \"}\"")
		default:
			return nil, p.errf(n, "expected \";\", a new line or \"}\" after a set element, got %s", n.describe())
		}
	}
}

// parseElem parses one element "v1, v2, ..." whose first word is t.
func (p *parser) parseElem(t token, key []ir.Field) (ir.SetElem, error) {
	words := []token{t}
	for p.peekRaw().kind == tComma {
		p.nextRaw()
		w := p.nextRaw()
		if w.kind != tWord {
			return ir.SetElem{}, p.errf(w, "expected a value after \",\" in set element, got %s", w.describe())
		}
		words = append(words, w)
	}
	if len(words) != len(key) {
		return ir.SetElem{}, p.errf(t, "set element has %d value(s), but the key %s has %d component(s)", len(words), keyString(key), len(key))
	}
	var e ir.SetElem
	for i, w := range words {
		kind := key[i].Info().Kind
		v, mask, err := kind.Parse(w.text, p.env)
		if err != nil {
			return ir.SetElem{}, p.valueErr(w, w.text, key[i], err)
		}
		e.Key = append(e.Key, v...)
		if kind.IsPrefix() {
			e.PrefixLen = ir.PrefixLen(mask)
		}
	}
	return e, nil
}

// parseSetMatcher parses "(KEY) [not] in { ... }" or "(KEY) [not] in NAME".
func (p *parser) parseSetMatcher(st *chainState) (ir.Match, error) {
	start := p.peek()
	key, err := p.parseKey(st.chain.Hook)
	if err != nil {
		return ir.Match{}, err
	}
	m := ir.Match{Field: key[0], Op: ir.OpIn}
	if isWord(p.peek(), "not") {
		p.next()
		m.Negate = true
	}
	op := p.next()
	if !isWord(op, "in") {
		return m, p.errf(op, "expected \"in\" after set key %s, got %s (only the in operator is supported for sets)", keyString(key), op.describe())
	}
	if p.peek().kind == tLBrace {
		elems, err := p.parseElems(key)
		if err != nil {
			return m, err
		}
		s := &ir.Set{Name: st.anonName(), Anonymous: true, Key: key, Elems: elems}
		st.addSet(s)
		m.Set = s.Name
		return m, nil
	}
	name := p.next()
	if name.kind != tWord {
		return m, p.errf(name, "expected a set name or \"{\" after \"in\", got %s", name.describe())
	}
	s := st.set(name.text)
	if st.broken[name.text] {
		return m, errBail // already reported at the declaration
	}
	if s == nil || s.Anonymous {
		return m, p.errf(name, "unknown set %q in chain %s%s", name.text, st.chain.Name, didYouMean(name.text, namedSets(st.chain)))
	}
	if keyString(s.Key) != keyString(key) {
		return m, p.errf(start, "set %s has key %s, but the rule uses %s", s.Name, keyString(s.Key), keyString(key))
	}
	m.Set = s.Name
	return m, nil
}

// namedSets lists the chain's named sets, for suggestions.
func namedSets(c *ir.Chain) []string {
	var out []string
	for _, s := range c.Sets {
		if !s.Anonymous {
			out = append(out, s.Name)
		}
	}
	return out
}

// parseSet parses "set NAME (KEY) in { ... }".
func (p *parser) parseSet(st *chainState) error {
	p.next() // "set"
	name := p.next()
	if name.kind != tWord {
		return p.errf(name, "expected a set name after \"set\", got %s", name.describe())
	}
	if !validSetName(name.text) {
		return p.errf(name, "invalid set name %q (use letters, digits and '_')", name.text)
	}
	if st.set(name.text) != nil {
		return p.errf(name, "set %q is already defined in chain %s", name.text, st.chain.Name)
	}
	key, elems, err := p.parseSetBody(st.chain.Hook)
	if err != nil {
		if st.broken == nil {
			st.broken = map[string]bool{}
		}
		st.broken[name.text] = true
		return err
	}
	st.addSet(&ir.Set{Name: name.text, Key: key, Elems: elems})
	return nil
}

// parseSetBody parses "(KEY) in { ... }" of a set declaration.
func (p *parser) parseSetBody(h ir.Hook) ([]ir.Field, []ir.SetElem, error) {
	key, err := p.parseKey(h)
	if err != nil {
		return nil, nil, err
	}
	op := p.next()
	if !isWord(op, "in") {
		return nil, nil, p.errf(op, "expected \"in\" after set key %s, got %s (only the in operator is supported for sets)", keyString(key), op.describe())
	}
	elems, err := p.parseElems(key)
	if err != nil {
		return nil, nil, err
	}
	return key, elems, nil
}

// validSetName reports whether s can name a set: letters, digits and '_',
// at most 64 bytes, not starting with "__anon_" (reserved for anonymous
// sets).
func validSetName(s string) bool {
	if s == "" || len(s) > 64 || strings.HasPrefix(s, "__anon_") {
		return false
	}
	for _, c := range s {
		if !(c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}
