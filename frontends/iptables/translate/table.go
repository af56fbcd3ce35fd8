package translate

import (
	"fmt"
	"strings"

	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
	"github.com/bpfilter-go/bpfilter/ir"
)

// builtinHooks maps the filter table's builtin chains to IR hooks.
var builtinHooks = map[int]ir.Hook{
	abi.HookLocalIn:  ir.HookNFLocalIn,
	abi.HookForward:  ir.HookNFForward,
	abi.HookLocalOut: ir.HookNFLocalOut,
}

// Table translates the filter table t of family fam (abi.IPv4 for
// iptables, abi.IPv6 for ip6tables) into a ruleset. It refuses other
// tables and untranslatable rules with an *Error.
func Table(t *abi.Table, opts Options) (*ir.Ruleset, error) {
	if t == nil {
		return nil, fmt.Errorf("translate: nil table")
	}
	if t.Name != "filter" {
		return nil, fmt.Errorf("translate: table %s is not supported (only the filter table is translated)", t.Name)
	}
	if t.Family != abi.IPv4 && t.Family != abi.IPv6 {
		return nil, fmt.Errorf("translate: unknown family %s", t.Family)
	}
	tr := &translator{t: t, fam: t.Family, opts: &opts, names: map[string]string{}}
	for _, c := range t.Chains {
		tr.names[c.Name] = tr.chainName(c)
	}
	rs := &ir.Ruleset{}
	for _, c := range t.Chains {
		ic, err := tr.chain(c)
		if err != nil {
			return nil, err
		}
		rs.Chains = append(rs.Chains, ic)
	}
	if err := rs.Validate(); err != nil {
		return nil, fmt.Errorf("translate: table %s: %w", t.Name, err)
	}
	return rs, nil
}

// translator is the state of one table's translation.
type translator struct {
	t     *abi.Table
	fam   abi.Family
	opts  *Options
	names map[string]string
}

// ChainName is the IR name of an iptables chain of a table of family fam
// translated with the default prefix.
func ChainName(fam abi.Family, name string, builtin bool) string {
	o := Options{}
	return chainName(o.prefix(fam), name, builtin)
}

func (tr *translator) chainName(c *abi.Chain) string {
	return chainName(tr.opts.prefix(tr.fam), c.Name, c.Builtin())
}

func chainName(prefix, name string, builtin bool) string {
	if builtin {
		return prefix + name
	}
	var b strings.Builder
	b.WriteString(prefix + "u.")
	for _, r := range []byte(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.':
			b.WriteByte(r)
		default: // '_' is the escape character, so it is escaped too
			fmt.Fprintf(&b, "_%02x", r)
		}
	}
	return b.String()
}

func (tr *translator) chain(c *abi.Chain) (*ir.Chain, error) {
	ic := &ir.Chain{Name: tr.names[c.Name], Origin: ir.Origin{Frontend: "iptables", Text: c.Name}}
	if c.Builtin() {
		h, ok := builtinHooks[c.Hook]
		if !ok {
			return nil, &Error{Chain: c.Name, Feature: fmt.Sprintf("builtin chain %s in table filter", c.Name)}
		}
		ic.Hook = h
		ic.HookOpts = ir.HookOpts{Priorities: tr.opts.priorities()}
		switch c.Policy {
		case abi.VerdictAccept:
			ic.Policy = ir.Verdict{Kind: ir.Accept}
		case abi.VerdictDrop:
			ic.Policy = ir.Verdict{Kind: ir.Drop}
		default:
			return nil, &Error{Chain: c.Name, Feature: fmt.Sprintf("policy %d", c.Policy)}
		}
		ic.Rules = append(ic.Rules, tr.familyGuard())
	} else {
		// User chains take the hooks of the builtin chains; the policy of
		// a user chain is RETURN, expressed by the backend.
		ic.Hook = ir.HookNFLocalIn
		ic.User = true
		ic.Policy = ir.Verdict{Kind: ir.Accept}
	}
	for i, r := range c.Rules {
		rr, err := tr.rule(c, i+1, r)
		if err != nil {
			return nil, err
		}
		ic.Rules = append(ic.Rules, rr)
	}
	return ic, nil
}

// familyGuard is the first rule of a builtin chain: packets of the other
// family are not this table's business.
func (tr *translator) familyGuard() *ir.Rule {
	ethp := uint64(ir.EthPIP)
	if tr.fam == abi.IPv6 {
		ethp = ir.EthPIPv6
	}
	return &ir.Rule{
		Matches: []ir.Match{{Field: ir.MetaL3Proto, Op: ir.OpEq, Negate: true, Value: be(ethp, 2)}},
		Verdict: ir.Verdict{Kind: ir.Accept},
		Origin:  ir.Origin{Frontend: "iptables", Text: fmt.Sprintf("(packets that are not %s)", tr.fam)},
	}
}

func be(v uint64, n int) []byte {
	b := make([]byte, n)
	for i := n - 1; i >= 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
	return b
}
