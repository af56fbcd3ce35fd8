package cli

import (
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/bpfilter-go/bpfilter/ir"
)

// hookOptionNames are the hook options bfcli knows.
var hookOptionNames = []string{"ifindex", "iface", "cgpath", "priorities", "family"}

// prioritiesRE matches "A-B" where both are (possibly negative) integers.
var prioritiesRE = regexp.MustCompile(`^(-?[0-9]+)-(-?[0-9]+)$`)

// parseHookOpts parses "{key=value,...}" after a hook name.
func (p *parser) parseHookOpts() (ir.HookOpts, error) {
	var opts ir.HookOpts
	p.next() // "{"
	seen := map[string]bool{}
	if p.peek().kind == tRBrace {
		p.next()
		return opts, nil
	}
	for {
		t := p.next()
		if t.kind != tWord {
			return opts, p.errf(t, "expected a hook option such as ifindex=2, got %s", t.describe())
		}
		key, val, ok := strings.Cut(t.text, "=")
		if !ok || val == "" {
			return opts, p.errf(t, "invalid hook option %q (expected KEY=VALUE)", t.text)
		}
		if seen[key] {
			return opts, p.errf(t, "hook option %q is given more than once", key)
		}
		seen[key] = true
		if err := p.setHookOpt(&opts, t, key, val); err != nil {
			return opts, err
		}
		sep := p.next()
		switch sep.kind {
		case tComma:
			continue
		case tRBrace:
			if seen["ifindex"] && seen["iface"] {
				return opts, p.errf(t, "hook options ifindex and iface are mutually exclusive")
			}
			return opts, nil
		}
		return opts, p.errf(sep, "expected \",\" or \"}\" after hook option %q, got %s", t.text, sep.describe())
	}
}

// setHookOpt parses one hook option value into opts.
func (p *parser) setHookOpt(opts *ir.HookOpts, t token, key, val string) error {
	switch key {
	case "ifindex":
		v, err := strconv.ParseUint(val, 10, 32)
		if err != nil || v == 0 || v == math.MaxUint32 {
			return p.errf(t, "invalid ifindex %q (expected a positive interface index)", val)
		}
		opts.Ifindex = uint32(v)
	case "iface":
		if len(val) >= 16 || strings.ContainsAny(val, "/:") {
			return p.errf(t, "invalid interface name %q", val)
		}
		opts.Iface = val
		if p.env.ResolveIface != nil {
			idx, err := p.env.ResolveIface(val)
			if err != nil {
				return p.errf(t, "hook option iface=%s: %v", val, err)
			}
			opts.Ifindex = idx
		}
	case "cgpath":
		opts.CgroupPath = val
	case "priorities":
		m := prioritiesRE.FindStringSubmatch(val)
		if m == nil {
			return p.errf(t, "invalid priorities %q (expected two integers such as 101-102)", val)
		}
		var pr [2]int32
		for i := range pr {
			v, err := strconv.ParseInt(m[i+1], 10, 32)
			if err != nil {
				return p.errf(t, "invalid priority %q: out of range", m[i+1])
			}
			pr[i] = int32(v)
		}
		opts.Priorities = pr
	case "family":
		if val != "inet4" && val != "inet6" {
			return p.errf(t, "invalid family %q (expected inet4 or inet6)", val)
		}
		opts.Family = val
	default:
		return p.errf(t, "unknown hook option %q%s", key, didYouMean(key, hookOptionNames))
	}
	return nil
}
