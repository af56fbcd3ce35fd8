package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/bpfilter-go/bpfilter/ir"
)

// Format prints a ruleset as canonical bfcli text. Text printed from a
// ruleset that Parse produced parses back to the same IR (origins aside).
// IR from other frontends is printed as closely as bfcli can express it;
// what bfcli cannot express (JUMP/GOTO/RETURN, masks on non-prefix
// fields) is printed in a readable form that Parse refuses.
func Format(rs *ir.Ruleset) string {
	p := &printer{}
	for i, c := range rs.Chains {
		if i > 0 {
			p.b.WriteString("\n")
		}
		p.chain(c, nil)
	}
	return p.b.String()
}

// FormatChain prints one chain as canonical bfcli text.
func FormatChain(c *ir.Chain) string {
	p := &printer{}
	p.chain(c, nil)
	return p.b.String()
}

// printer writes bfcli text; opts select the listing variant.
type printer struct {
	b    strings.Builder
	opts ListOptions
}

func (p *printer) line(indent int, s string) {
	p.b.WriteString(strings.Repeat("    ", indent))
	p.b.WriteString(s)
	p.b.WriteString("\n")
}

// chain prints c; cnt, when not nil, adds counters as the listing does.
func (p *printer) chain(c *ir.Chain, cnt *ChainCounters) {
	hook := c.Hook.String()
	if o := formatHookOpts(c.HookOpts); o != "" {
		hook += "{" + o + "}"
	}
	p.line(0, fmt.Sprintf("chain %s %s %s", c.Name, hook, c.Policy))
	if cnt != nil {
		p.line(1, fmt.Sprintf("counters policy %d packets %d bytes; error %d packets %d bytes",
			cnt.Policy.Packets, cnt.Policy.Bytes, cnt.Errors.Packets, cnt.Errors.Bytes))
	}
	for _, s := range c.Sets {
		if !s.Anonymous {
			p.namedSet(s)
		}
	}
	for i, r := range c.Rules {
		var rc *Counter
		if cnt != nil && i < len(cnt.Rules) {
			rc = &cnt.Rules[i]
		}
		p.rule(c, r, rc)
	}
}

// formatHookOpts prints hook options in a fixed order. An interface given
// by name is printed by name, so it is resolved again when parsed.
func formatHookOpts(o ir.HookOpts) string {
	var parts []string
	if o.Family != "" {
		parts = append(parts, "family="+o.Family)
	}
	switch {
	case o.Iface != "":
		parts = append(parts, "iface="+o.Iface)
	case o.Ifindex != 0:
		parts = append(parts, "ifindex="+strconv.FormatUint(uint64(o.Ifindex), 10))
	}
	if o.CgroupPath != "" {
		parts = append(parts, "cgpath="+o.CgroupPath)
	}
	if o.Priorities != [2]int32{} {
		parts = append(parts, fmt.Sprintf("priorities=%d-%d", o.Priorities[0], o.Priorities[1]))
	}
	return strings.Join(parts, ",")
}

// namedSet prints a set declaration, one element per line.
func (p *printer) namedSet(s *ir.Set) {
	head := fmt.Sprintf("set %s %s in", s.Name, keyString(s.Key))
	switch {
	case p.opts.NoSetContent:
		p.line(1, head+" "+elidedElems(s))
	case len(s.Elems) == 0:
		p.line(1, head+" {}")
	default:
		p.line(1, head+" {")
		for _, e := range s.Elems {
			p.line(2, formatElem(s, e))
		}
		p.line(1, "}")
	}
}

// elidedElems is what --no-set-content prints instead of the elements.
func elidedElems(s *ir.Set) string {
	return fmt.Sprintf("{ /* %d elements, content elided */ }", len(s.Elems))
}

// formatElem prints one element: its key components, comma-separated.
func formatElem(s *ir.Set, e ir.SetElem) string {
	if len(e.Key) != s.KeyWidth() {
		return fmt.Sprintf("<bad element % x>", e.Key)
	}
	parts := make([]string, len(s.Key))
	off := 0
	for i, f := range s.Key {
		k := f.Info().Kind
		w := k.Width()
		var mask []byte
		if k.IsPrefix() {
			mask = ir.PrefixMask(e.PrefixLen, w)
		}
		parts[i] = k.Format(e.Key[off:off+w], mask)
		off += w
	}
	return strings.Join(parts, ", ")
}

// rule prints a rule; rc, when not nil, replaces "counter" by its values.
func (p *printer) rule(c *ir.Chain, r *ir.Rule, rc *Counter) {
	p.line(1, "rule")
	for _, m := range r.Matches {
		p.line(2, p.match(c, m))
	}
	if r.Log != nil {
		p.line(2, formatLog(r.Log))
	}
	if r.Counter {
		if rc != nil {
			p.line(2, fmt.Sprintf("counters %d packets %d bytes", rc.Packets, rc.Bytes))
		} else {
			p.line(2, "counter")
		}
	}
	if r.Mark != nil {
		p.line(2, fmt.Sprintf("mark 0x%x", *r.Mark))
	}
	p.line(2, r.Verdict.String())
}

// formatLog prints a log action.
func formatLog(l *ir.Log) string {
	s := "log"
	if l.Headers != ir.LogAll && l.Headers != 0 {
		var h []string
		for _, n := range []struct {
			bit  ir.LogHeaders
			name string
		}{{ir.LogLink, "link"}, {ir.LogInternet, "internet"}, {ir.LogTransport, "transport"}} {
			if l.Headers&n.bit != 0 {
				h = append(h, n.name)
			}
		}
		s += " " + strings.Join(h, ",")
	}
	if l.Every > 0 {
		s += " every " + formatEvery(l.Every)
	}
	return s
}

// match prints one matcher.
func (p *printer) match(c *ir.Chain, m ir.Match) string {
	not := ""
	if m.Negate {
		not = " not"
	}
	if m.Op == ir.OpIn {
		s := c.Set(m.Set)
		if s == nil {
			return fmt.Sprintf("(%s)%s in %s", m.Field, not, m.Set)
		}
		head := keyString(s.Key) + not + " in "
		switch {
		case !s.Anonymous:
			return head + s.Name
		case p.opts.NoSetContent:
			return head + elidedElems(s)
		case len(s.Elems) == 0:
			return head + "{}"
		}
		elems := make([]string, len(s.Elems))
		for i, e := range s.Elems {
			elems[i] = formatElem(s, e)
		}
		return head + "{ " + strings.Join(elems, "; ") + " }"
	}
	k := m.Field.Info().Kind
	var val string
	switch m.Op {
	case ir.OpRange:
		val = k.Format(m.Value, nil) + "-" + k.Format(m.High, nil)
	default:
		val = k.Format(m.Value, m.Mask)
		if m.Mask != nil && !k.IsPrefix() {
			val += "/mask:" + k.Format(m.Mask, nil)
		}
	}
	return fmt.Sprintf("%s%s %s %s", m.Field, not, m.Op, val)
}
