package cli

import (
	"math"
	"strconv"
	"strings"

	"github.com/bpfilter-go/bpfilter/ir"
)

// verdictKinds maps verdict keywords to kinds. JUMP, GOTO and RETURN are
// known so they can be refused by name.
var verdictKinds = map[string]ir.VerdictKind{
	"ACCEPT": ir.Accept, "DROP": ir.Drop, "CONTINUE": ir.Continue, "NEXT": ir.Next,
	"REDIRECT": ir.Redirect, "JUMP": ir.Jump, "GOTO": ir.Goto, "RETURN": ir.Return,
}

// ruleWords are the keywords valid inside a rule, for suggestions.
var ruleWords = []string{"counter", "log", "mark", "ACCEPT", "DROP", "CONTINUE", "NEXT", "REDIRECT"}

// isRuleKeyword reports whether w ends a log action's optional arguments.
func isRuleKeyword(w string) bool {
	switch w {
	case "counter", "log", "mark", "every", "rule", "chain", "set":
		return true
	}
	_, ok := verdictKinds[w]
	return ok
}

// parseRule parses "rule MATCHER... ACTION... VERDICT".
func (p *parser) parseRule(st *chainState) (*ir.Rule, error) {
	p.peek()
	start := p.i
	p.next() // "rule"
	r := &ir.Rule{}
	h := st.chain.Hook
	sawAction, sawLog, sawMark := false, false, false
	for {
		t := p.peek()
		switch {
		case t.kind == tLParen:
			if sawAction {
				return nil, p.errf(t, "matchers must come before counter, log and mark")
			}
			m, err := p.parseSetMatcher(st)
			if err != nil {
				return nil, err
			}
			r.Matches = append(r.Matches, m)
			continue
		case t.kind != tWord || t.text == "rule" || t.text == "chain" || t.text == "set":
			return nil, p.errf(t, "rule has no verdict: expected ACCEPT, DROP, CONTINUE, NEXT or REDIRECT before %s", t.describe())
		}
		if f, ok := ir.LookupField(t.text); ok {
			if sawAction {
				return nil, p.errf(t, "matcher %s must come before counter, log and mark", t.text)
			}
			p.next()
			m, err := p.parseMatcher(st, t, f)
			if err != nil {
				return nil, err
			}
			r.Matches = append(r.Matches, m)
			continue
		}
		if kind, ok := verdictKinds[t.text]; ok {
			p.next()
			v, err := p.parseVerdict(t, kind)
			if err != nil {
				return nil, err
			}
			r.Verdict = v
			r.Origin = p.origin(start)
			return r, nil
		}
		p.next()
		switch t.text {
		case "counter":
			if r.Counter {
				return nil, p.errf(t, "duplicate keyword \"counter\" in rule")
			}
			r.Counter = true
		case "mark":
			if sawMark {
				return nil, p.errf(t, "duplicate keyword \"mark\" in rule")
			}
			sawMark = true
			v, err := p.parseMark(t, h)
			if err != nil {
				return nil, err
			}
			r.Mark = &v
		case "log":
			if sawLog {
				return nil, p.errf(t, "duplicate keyword \"log\" in rule")
			}
			sawLog = true
			l, err := p.parseLog(t, h)
			if err != nil {
				return nil, err
			}
			r.Log = l
		default:
			return nil, p.errf(t, "unknown matcher %q%s", t.text, didYouMean(t.text, append(fieldNames(), ruleWords...)))
		}
		sawAction = true
	}
}

// fieldNames lists every matcher name.
func fieldNames() []string {
	var out []string
	for _, f := range ir.Fields() {
		out = append(out, f.String())
	}
	return out
}

// parseMark parses the value of a mark action.
func (p *parser) parseMark(kw token, h ir.Hook) (uint32, error) {
	t := p.next()
	if t.kind != tWord {
		return 0, p.errf(t, "mark needs a value, got %s", t.describe())
	}
	val, _, err := ir.KindU32.Parse(t.text, p.env)
	if err != nil {
		return 0, p.errf(t, "invalid mark %q: %v (expected a 32-bit decimal or hexadecimal value)", t.text, err)
	}
	if f := h.Flavour(); f != ir.FlavourTC && f != ir.FlavourCgroupSkb {
		return 0, p.errf(kw, "mark is not supported by %s (only TC and cgroup_skb hooks can set a mark)", h)
	}
	return uint32(ir.Uint(val)), nil
}

// logHeaderNames maps log header keywords to layers.
var logHeaderNames = map[string]ir.LogHeaders{"link": ir.LogLink, "internet": ir.LogInternet, "transport": ir.LogTransport}

// parseLog parses "log [HEADERS] [every DURATION]" after "log".
func (p *parser) parseLog(kw token, h ir.Hook) (*ir.Log, error) {
	l := &ir.Log{Headers: ir.LogAll}
	t := p.peek()
	if t.kind == tWord && !isRuleKeyword(t.text) {
		p.next()
		text := p.joined(t)
		var hdrs ir.LogHeaders
		for _, part := range strings.Split(text, ",") {
			bit, ok := logHeaderNames[part]
			if !ok {
				return nil, p.errf(t, "unknown log header %q in %q (expected link, internet or transport)", part, text)
			}
			hdrs |= bit
		}
		if h.IsSockAddr() {
			return nil, p.errf(t, "log headers are not supported by %s (use a bare \"log\")", h)
		}
		l.Headers = hdrs
	}
	if isWord(p.peek(), "every") {
		p.next()
		d := p.next()
		if d.kind != tWord {
			return nil, p.errf(d, "\"every\" needs a duration such as 1s or 500ms, got %s", d.describe())
		}
		every, err := parseEvery(d.text)
		if err != nil {
			return nil, p.errf(d, "invalid log interval %q: %v", d.text, err)
		}
		l.Every = every
	}
	return l, nil
}

// parseVerdict parses a verdict whose keyword t was consumed.
func (p *parser) parseVerdict(t token, kind ir.VerdictKind) (ir.Verdict, error) {
	switch kind {
	case ir.Accept, ir.Drop, ir.Continue, ir.Next:
		return ir.Verdict{Kind: kind}, nil
	case ir.Redirect:
		return p.parseRedirect(t)
	}
	return ir.Verdict{}, p.errf(t, "verdict %s is not supported by bfcli", t.text)
}

// parseRedirect parses "IFACE in|out" after REDIRECT.
func (p *parser) parseRedirect(kw token) (ir.Verdict, error) {
	t := p.next()
	if t.kind != tWord {
		return ir.Verdict{}, p.errf(t, "REDIRECT needs an interface name or index, got %s", t.describe())
	}
	var idx uint32
	if t.text[0] >= '0' && t.text[0] <= '9' {
		v, err := strconv.ParseUint(t.text, 10, 32)
		if err != nil || v == 0 || v == math.MaxUint32 {
			return ir.Verdict{}, p.errf(t, "invalid REDIRECT interface index %q", t.text)
		}
		idx = uint32(v)
	} else {
		if p.env.ResolveIface == nil {
			return ir.Verdict{}, p.errf(t, "cannot resolve REDIRECT interface %q here (use an interface index)", t.text)
		}
		v, err := p.env.ResolveIface(t.text)
		if err != nil {
			return ir.Verdict{}, p.errf(t, "REDIRECT to unknown interface %q: %v", t.text, err)
		}
		idx = v
	}
	d := p.next()
	var dir ir.Direction
	switch {
	case isWord(d, "in"):
		dir = ir.DirIn
	case isWord(d, "out"):
		dir = ir.DirOut
	default:
		return ir.Verdict{}, p.errf(d, "REDIRECT needs a direction (in or out) after the interface, got %s", d.describe())
	}
	return ir.Verdict{Kind: ir.Redirect, Ifindex: idx, Dir: dir}, nil
}
