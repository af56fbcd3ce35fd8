package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/bpfilter-go/bpfilter/ir"
)

// Parse parses bfcli text into a ruleset and validates it. filename is
// only used in error positions. On failure the error is an ErrorList with
// every problem found (at most a handful), sorted by position; the parser
// never panics, whatever the input.
func Parse(filename string, src []byte, env ir.ParseEnv) (*ir.Ruleset, error) {
	p := &parser{file: filename, src: src, toks: lex(filename, src), env: env}
	rs := p.parseRuleset()
	if p.tooMany() {
		p.errs.Sort()
		p.errs = p.errs[:maxErrors]
		p.errs.Add(p.peek().pos, "too many errors, giving up")
		return nil, p.errs
	}
	if len(p.errs) > 0 {
		p.errs.Sort()
		return nil, p.errs
	}
	if err := rs.Validate(); err != nil {
		l := validationErrors(err)
		l.Sort()
		return nil, l
	}
	return rs, nil
}

// parser holds the state of one Parse call.
type parser struct {
	file string
	src  []byte
	toks []token
	i    int // index of the next raw token
	env  ir.ParseEnv
	errs ErrorList
}

// errBail is returned by parse functions after they recorded an error; the
// caller resynchronises on the next statement keyword.
var errBail = errors.New("bail out")

// errf records an error at t and returns errBail.
func (p *parser) errf(t token, format string, a ...any) error {
	p.errs.Add(t.pos, fmt.Sprintf(format, a...))
	return errBail
}

// tooMany reports whether more errors were collected than are reported.
func (p *parser) tooMany() bool { return len(p.errs) > maxErrors }

// skipNewlines advances over newline tokens.
func (p *parser) skipNewlines() {
	for p.toks[p.i].kind == tNewline {
		p.i++
	}
}

// peek returns the next token that is not a newline.
func (p *parser) peek() token {
	p.skipNewlines()
	return p.toks[p.i]
}

// next consumes and returns the next token that is not a newline.
func (p *parser) next() token {
	t := p.peek()
	if t.kind != tEOF {
		p.i++
	}
	return t
}

// peekRaw returns the next token, newlines included.
func (p *parser) peekRaw() token { return p.toks[p.i] }

// nextRaw consumes and returns the next token, newlines included.
func (p *parser) nextRaw() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

// isWord reports whether t is the word w.
func isWord(t token, w string) bool { return t.kind == tWord && t.text == w }

// statementKeywords start a chain, a set or a rule.
var statementKeywords = []string{"chain", "set", "rule"}

// sync skips tokens up to the next statement keyword in stop, or the end.
func (p *parser) sync(stop ...string) {
	for {
		t := p.peek()
		if t.kind == tEOF {
			return
		}
		if t.kind == tWord {
			for _, s := range stop {
				if t.text == s {
					return
				}
			}
		}
		p.i++
	}
}

// joined consumes the value word t was and any adjacent ",word" parts
// (no whitespace in between), returning the whole text: "fin,syn,ack".
func (p *parser) joined(t token) string {
	var b strings.Builder
	b.WriteString(t.text)
	for {
		n := p.peekRaw()
		if n.spaceBefore || (n.kind != tComma && n.kind != tWord) {
			return b.String()
		}
		b.WriteString(n.text)
		p.i++
	}
}

// origin returns the IR origin of the tokens from index start up to the
// last consumed token; Text is those tokens as written, comments and line
// breaks left out.
func (p *parser) origin(start int) ir.Origin {
	t := p.toks[start]
	var b strings.Builder
	for i := start; i < p.i && i < len(p.toks); i++ {
		tk := p.toks[i]
		if tk.kind == tNewline || tk.kind == tEOF {
			continue
		}
		if tk.spaceBefore && b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(tk.text)
	}
	return ir.Origin{Frontend: "cli", File: p.file, Line: t.pos.Line, Column: t.pos.Column, Text: b.String()}
}

// parseRuleset parses chains until the end of the input.
func (p *parser) parseRuleset() *ir.Ruleset {
	rs := &ir.Ruleset{}
	for !p.tooMany() {
		t := p.peek()
		if t.kind == tEOF {
			break
		}
		if !isWord(t, "chain") {
			p.errf(t, "expected \"chain\", got %s%s", t.describe(), didYouMean(t.text, []string{"chain"}))
			p.i++
			p.sync("chain")
			continue
		}
		c, err := p.parseChain()
		if err != nil {
			p.sync("chain")
			continue
		}
		rs.Chains = append(rs.Chains, c)
	}
	return rs
}

// policies are the verdicts a chain policy can take.
var policies = []string{"ACCEPT", "DROP", "NEXT"}

// parseChain parses a chain header, its sets and its rules.
func (p *parser) parseChain() (*ir.Chain, error) {
	p.peek()
	start := p.i
	p.next() // "chain"
	nameTok := p.next()
	if nameTok.kind != tWord {
		return nil, p.errf(nameTok, "expected a chain name after \"chain\", got %s", nameTok.describe())
	}
	if !ir.ValidChainName(nameTok.text) {
		return nil, p.errf(nameTok, "invalid chain name %q (use up to 128 letters, digits, '_', '.' and '-')", nameTok.text)
	}
	hookTok := p.next()
	if hookTok.kind != tWord {
		return nil, p.errf(hookTok, "expected a hook after chain name %q, got %s", nameTok.text, hookTok.describe())
	}
	hook, err := ir.ParseHook(hookTok.text)
	if err != nil {
		return nil, p.errf(hookTok, "unknown hook %q%s", hookTok.text, didYouMean(hookTok.text, hookNames()))
	}
	c := &ir.Chain{Name: nameTok.text, Hook: hook}
	if p.peek().kind == tLBrace {
		opts, err := p.parseHookOpts()
		if err != nil {
			return nil, err
		}
		c.HookOpts = opts
		if err := opts.ValidateFor(hook); err != nil {
			return nil, p.errf(hookTok, "%v", err)
		}
	}
	polTok := p.next()
	if polTok.kind != tWord {
		return nil, p.errf(polTok, "expected a chain policy (ACCEPT, DROP or NEXT) after the hook, got %s", polTok.describe())
	}
	pol, ok := policyVerdict(polTok.text)
	if !ok {
		if _, isVerdict := verdictKinds[polTok.text]; isVerdict {
			return nil, p.errf(polTok, "%s is not a valid chain policy (use ACCEPT, DROP or NEXT)", polTok.text)
		}
		return nil, p.errf(polTok, "unknown chain policy %q%s", polTok.text, didYouMean(polTok.text, policies))
	}
	c.Policy = pol
	c.Origin = p.origin(start)
	p.parseChainBody(c)
	return c, nil
}

// parseChainBody parses the sets and rules of c, recovering from errors at
// the next statement keyword.
func (p *parser) parseChainBody(c *ir.Chain) {
	st := &chainState{chain: c}
	for !p.tooMany() {
		t := p.peek()
		switch {
		case t.kind == tEOF || isWord(t, "chain"):
			return
		case isWord(t, "set"):
			if len(c.Rules) > 0 || st.sawRule {
				p.errf(t, "set declarations must come before the rules of chain %s", c.Name)
				p.i++
				p.sync(statementKeywords...)
				continue
			}
			if err := p.parseSet(st); err != nil {
				p.sync(statementKeywords...)
			}
		case isWord(t, "rule"):
			st.sawRule = true
			r, err := p.parseRule(st)
			if err != nil {
				p.sync(statementKeywords...)
				continue
			}
			c.Rules = append(c.Rules, r)
		default:
			p.errf(t, "expected \"rule\", \"set\" or \"chain\", got %s%s", t.describe(), didYouMean(t.text, statementKeywords))
			p.i++
			p.sync(statementKeywords...)
		}
	}
}

// chainState is what rule and set parsing need to know about the chain
// being parsed.
type chainState struct {
	chain   *ir.Chain
	sawRule bool
	anon    int                // next anonymous set number
	sets    map[string]*ir.Set // the chain's sets by name
	// broken names the sets whose declaration had errors, so that rules
	// using them do not report a second, misleading error.
	broken map[string]bool
}

// addSet appends s to the chain's sets.
func (st *chainState) addSet(s *ir.Set) {
	if st.sets == nil {
		st.sets = map[string]*ir.Set{}
	}
	st.sets[s.Name] = s
	st.chain.Sets = append(st.chain.Sets, s)
}

// set returns the chain's set with the given name, or nil.
func (st *chainState) set(name string) *ir.Set { return st.sets[name] }

// anonName returns a fresh name for an anonymous set.
func (st *chainState) anonName() string {
	for {
		n := fmt.Sprintf("__anon_%d", st.anon)
		st.anon++
		if st.set(n) == nil {
			return n
		}
	}
}

// hookNames lists every hook name ParseHook accepts, for suggestions.
func hookNames() []string {
	var out []string
	for _, h := range ir.Hooks() {
		out = append(out, h.String())
	}
	return append(out, "BF_HOOK_CGROUP_INGRESS", "BF_HOOK_CGROUP_EGRESS")
}

// policyVerdict parses a chain policy.
func policyVerdict(s string) (ir.Verdict, bool) {
	switch s {
	case "ACCEPT":
		return ir.Verdict{Kind: ir.Accept}, true
	case "DROP":
		return ir.Verdict{Kind: ir.Drop}, true
	case "NEXT":
		return ir.Verdict{Kind: ir.Next}, true
	}
	return ir.Verdict{}, false
}
