package iptables

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
	"github.com/bpfilter-go/bpfilter/frontends/iptables/xt"
)

// shortOpts maps iptables' short options to whether they take an argument
// (1), an optional argument (2) or none (0).
var shortOpts = map[byte]int{
	'A': 1, 'C': 1, 'D': 1, 'R': 1, 'I': 1, 'L': 2, 'S': 2, 'F': 2, 'Z': 2, 'N': 1, 'X': 2, 'E': 1, 'P': 1,
	'V': 0, 'h': 0, 'o': 1, 'p': 1, 's': 1, 'd': 1, 'j': 1, 'i': 1, 'f': 0, 'v': 0, 'w': 2, 'W': 2,
	'n': 0, 't': 1, 'm': 1, 'x': 0, 'c': 1, 'g': 1, '4': 0, '6': 0,
}

// longOpts maps iptables' long options to their short letter (or a
// pseudo letter for options without one).
var longOpts = map[string]byte{
	"append": 'A', "delete": 'D', "check": 'C', "insert": 'I', "replace": 'R', "list": 'L',
	"list-rules": 'S', "flush": 'F', "zero": 'Z', "new-chain": 'N', "delete-chain": 'X',
	"rename-chain": 'E', "policy": 'P', "source": 's', "src": 's', "destination": 'd', "dst": 'd',
	"protocol": 'p', "in-interface": 'i', "jump": 'j', "table": 't', "match": 'm', "numeric": 'n',
	"out-interface": 'o', "verbose": 'v', "wait": 'w', "wait-interval": 'W', "exact": 'x',
	"fragments": 'f', "fragment": 'f', "version": 'V', "help": 'h', "line-numbers": '0',
	"modprobe": 'M', "set-counters": 'c', "goto": 'g', "ipv4": '4', "ipv6": '6',
}

type parser struct {
	fam    abi.Family
	args   []string
	i      int
	cmd    *Command
	spec   *RuleSpec
	invert bool
	given  map[byte]bool
	ctx    parseCtx
}

// ParseCommand parses an iptables (fam IPv4) or ip6tables (IPv6) command
// line, without the program name.
func ParseCommand(fam abi.Family, args []string) (*Command, error) {
	for _, a := range args {
		if strings.IndexByte(a, 0) >= 0 {
			// A C argv cannot carry one; names and strings would be cut.
			return nil, paramErr("argument %q contains a NUL byte", a)
		}
	}
	p := &parser{fam: fam, args: args, cmd: &Command{Table: "filter"}, spec: &RuleSpec{}, given: map[byte]bool{}}
	p.ctx = parseCtx{fam: fam, ip: &p.spec.IP}
	for p.i < len(p.args) {
		a := p.args[p.i]
		p.i++
		switch {
		case a == "!":
			if p.invert {
				return nil, paramErr("multiple consecutive ! not allowed")
			}
			p.invert = true
		case strings.HasPrefix(a, "--") && len(a) > 2:
			name, val, hasVal := strings.Cut(a[2:], "=")
			if c, ok := longOpts[name]; ok {
				var arg *string
				if hasVal {
					arg = &val
				}
				if err := p.option(c, arg, "--"+name); err != nil {
					return nil, err
				}
				continue
			}
			if err := p.extOption(name, val, hasVal); err != nil {
				return nil, err
			}
		case strings.HasPrefix(a, "-") && len(a) > 1:
			for j := 1; j < len(a); j++ {
				c := a[j]
				kind, ok := shortOpts[c]
				if !ok {
					return nil, paramErr("unknown option %q", a)
				}
				if kind == 0 {
					if err := p.option(c, nil, "-"+string(c)); err != nil {
						return nil, err
					}
					continue
				}
				var arg *string
				if j+1 < len(a) {
					rest := a[j+1:]
					arg = &rest
				}
				if err := p.option(c, arg, "-"+string(c)); err != nil {
					return nil, err
				}
				break
			}
		default:
			return nil, paramErr("Bad argument `%s'", a)
		}
	}
	if p.invert {
		return nil, paramErr("no command specified")
	}
	return p.finish()
}

// next returns the next argument for an option that requires one.
func (p *parser) next(opt string) (string, error) {
	if p.i >= len(p.args) {
		return "", paramErr("option \"%s\" requires an argument", opt)
	}
	p.i++
	return p.args[p.i-1], nil
}

// optional returns the next argument if it does not look like an option.
func (p *parser) optional() (string, bool) {
	if p.i < len(p.args) && p.args[p.i] != "" && p.args[p.i][0] != '-' && p.args[p.i][0] != '!' {
		p.i++
		return p.args[p.i-1], true
	}
	return "", false
}

func (p *parser) setCommand(c byte) error {
	if p.cmd.Op != 0 {
		if (p.cmd.Op == 'L' && c == 'Z') || (p.cmd.Op == 'Z' && c == 'L') {
			p.cmd.Op = 'L'
			p.cmd.ListZero = true
			return nil
		}
		return paramErr("Cannot use -%c with -%c", c, p.cmd.Op)
	}
	p.cmd.Op = c
	return nil
}

func parseRuleNum(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || strings.HasPrefix(s, "+") {
		return 0, paramErr("Invalid rule number `%s'", s)
	}
	return n, nil
}

func (p *parser) noInvert(opt string) error {
	if p.invert {
		return paramErr("cannot have ! before %s", opt)
	}
	return nil
}

// option handles one builtin option; arg is its attached argument if any.
func (p *parser) option(c byte, arg *string, opt string) error {
	needs := shortOpts[c]
	if c == '0' || c == 'M' {
		needs = 0
	}
	val := ""
	if arg != nil {
		val = *arg
	} else if needs == 1 {
		v, err := p.next(opt)
		if err != nil {
			return err
		}
		val = v
	}
	inv := p.invert
	p.invert = false
	switch c {
	case 'A', 'C', 'D', 'R', 'I', 'L', 'S', 'F', 'Z', 'N', 'X', 'E', 'P':
		if inv {
			return paramErr("cannot have ! before -%c", c)
		}
		if err := p.setCommand(c); err != nil {
			return err
		}
		if c == 'Z' && p.cmd.ListZero {
			if arg != nil {
				p.cmd.Chain = val
			} else if v, ok := p.optional(); ok {
				p.cmd.Chain = v
			}
			if v, ok := p.optional(); ok {
				n, err := parseRuleNum(v)
				if err != nil {
					return err
				}
				p.cmd.RuleNum, p.cmd.ZeroNum = n, true
			}
			return nil
		}
		if needs == 2 && arg == nil {
			if v, ok := p.optional(); ok {
				val = v
			}
		}
		p.cmd.Chain = val
		switch c {
		case 'D', 'I', 'S', 'Z', 'L':
			if v, ok := p.optional(); ok {
				n, err := parseRuleNum(v)
				if err != nil {
					return err
				}
				p.cmd.RuleNum = n
			}
		case 'R':
			v, ok := p.optional()
			if !ok {
				return paramErr("-R requires a rule number")
			}
			n, err := parseRuleNum(v)
			if err != nil {
				return err
			}
			p.cmd.RuleNum = n
		case 'E':
			v, ok := p.optional()
			if !ok {
				return paramErr("-E requires old-chain-name and new-chain-name")
			}
			p.cmd.NewName = v
		case 'P':
			v, ok := p.optional()
			if !ok {
				return paramErr("-P requires a chain and a policy")
			}
			p.cmd.Policy = v
		}
		return nil
	case 'V':
		p.cmd.Op = 'V'
		return nil
	case 'h':
		p.cmd.Op = 'h'
		return nil
	case 'n':
		p.cmd.Numeric = true
		return p.noInvert("-n")
	case 'v':
		p.cmd.Verbose = true
		return p.noInvert("-v")
	case 'x':
		p.cmd.Exact = true
		return p.noInvert("-x")
	case '0':
		p.cmd.LineNumbers = true
		return p.noInvert("--line-numbers")
	case 'w', 'W':
		if arg == nil {
			p.optional()
		}
		return p.noInvert("-" + string(c))
	case 'M':
		return nil
	case '4':
		if p.fam == abi.IPv6 {
			return paramErr("This is the IPv6 version of ip6tables.")
		}
		return nil
	case '6':
		if p.fam == abi.IPv4 {
			return paramErr("This is the IPv4 version of iptables.")
		}
		return nil
	case 't':
		if inv {
			return paramErr("unexpected ! flag before --table")
		}
		if p.given['t'] {
			return paramErr("multiple -t flags not allowed")
		}
		p.given['t'] = true
		p.cmd.Table = val
		return nil
	}
	// Rule options.
	if p.given[c] && c != 'm' {
		return paramErr("multiple -%c flags not allowed", c)
	}
	p.given[c] = true
	ip := &p.spec.IP
	switch c {
	case 'p':
		proto, ok := parseProto(val)
		if !ok {
			return paramErr("unknown protocol \"%s\" specified", val)
		}
		if proto == 0 && inv {
			return paramErr("rule would never match protocol")
		}
		ip.Proto = proto
		p.spec.Proto = true
		if inv {
			ip.InvFlags |= abi.InvProto
		}
		if p.fam == abi.IPv6 {
			ip.Flags |= abi.FlagV6Proto
		}
	case 's', 'd':
		list, err := parseAddrList(p.fam, val)
		if err != nil {
			return err
		}
		if c == 's' {
			p.spec.Srcs, p.spec.SrcInv = list, inv
		} else {
			p.spec.Dsts, p.spec.DstInv = list, inv
		}
	case 'i', 'o':
		if len(val) >= abi.IfNameLen {
			return paramErr("interface name `%s' must be shorter than IFNAMSIZ (%d)", val, abi.IfNameLen-1)
		}
		var mask [abi.IfNameLen]byte
		if n := len(val); n > 0 {
			if val[n-1] == '+' {
				for k := 0; k < n-1; k++ {
					mask[k] = 0xff
				}
			} else {
				for k := 0; k <= n; k++ {
					mask[k] = 0xff
				}
			}
		}
		if c == 'i' {
			ip.InIface, ip.InIfaceMask = val, mask
			if inv {
				ip.InvFlags |= abi.InvVIAIn
			}
		} else {
			ip.OutIface, ip.OutIfaceMask = val, mask
			if inv {
				ip.InvFlags |= abi.InvVIAOut
			}
		}
	case 'f':
		if p.fam == abi.IPv6 {
			return paramErr("unknown option \"-f\"")
		}
		ip.Flags |= abi.FlagFragment
		if inv {
			ip.InvFlags |= abi.InvFrag
		}
	case 'j', 'g':
		if p.given['j'] && p.given['g'] {
			return paramErr("multiple -j flags not allowed")
		}
		if inv {
			return paramErr("cannot have ! before -%c", c)
		}
		p.spec.HasJump = true
		p.spec.Jump = val
		if c == 'g' {
			p.spec.Goto = true
			if p.fam == abi.IPv6 {
				ip.Flags |= abi.FlagV6Goto
			} else {
				ip.Flags |= abi.FlagGoto
			}
		}
		if _, std := abi.VerdictByName(val); std || c == 'g' {
			return nil
		}
		if e := findExt(xt.Target, p.fam, val); e != nil {
			p.spec.Target = &instance{ext: e, info: e.init(p.fam), seen: map[string]bool{}}
		}
	case 'm':
		if inv {
			return paramErr("cannot have ! before -m")
		}
		e := findExt(xt.Match, p.fam, val)
		if e == nil {
			return paramErr("Couldn't load match `%s':No such file or directory%s", val, unsupportedNote(xt.Match, val))
		}
		p.spec.Matches = append(p.spec.Matches, &instance{ext: e, info: e.init(p.fam), seen: map[string]bool{}})
	case 'c':
		pk, by, found := strings.Cut(val, ",")
		if !found {
			v, ok := p.optional()
			if !ok {
				return paramErr("-c requires packet and byte counter")
			}
			by = v
		}
		np, err1 := strconv.ParseUint(pk, 10, 64)
		nb, err2 := strconv.ParseUint(by, 10, 64)
		if pk == "" || by == "" || err1 != nil || err2 != nil {
			return paramErr("-c packet counter not numeric")
		}
		p.spec.Counters = abi.Counters{Packets: np, Bytes: nb}
	default:
		return paramErr("unknown option \"%s\"", opt)
	}
	return nil
}

// extOption hands --name to the loaded matches, then the target, then an
// implicitly loaded protocol match, like iptables' command_default.
func (p *parser) extOption(name, val string, hasVal bool) error {
	inv := p.invert
	p.invert = false
	try := func(in *instance) (bool, error) {
		o := in.ext.opt(name)
		if o == nil {
			return false, nil
		}
		arg := ""
		switch {
		case o.arg == needArg && hasVal:
			arg = val
		case o.arg == needArg:
			v, err := p.next("--" + name)
			if err != nil {
				return true, err
			}
			arg = v
		case o.arg == twoArgs:
			v, err := p.next("--" + name)
			if err != nil {
				return true, err
			}
			if p.i >= len(p.args) || p.args[p.i] == "" || p.args[p.i][0] == '-' || p.args[p.i][0] == '!' {
				return true, paramErr("--%s requires two args.", name)
			}
			arg = v + " " + p.args[p.i]
			p.i++
		case hasVal:
			return true, paramErr("option '--%s' doesn't allow an argument", name)
		}
		if inv && !o.invert {
			return true, paramErr("%s: option \"--%s\" cannot be inverted.", in.ext.userName(), name)
		}
		if in.seen[name] {
			return true, paramErr("%s: \"--%s\" option may only be specified once", in.ext.userName(), name)
		}
		in.seen[name] = true
		return true, in.ext.parse(&p.ctx, in.info, name, arg, inv, in.seen)
	}
	for _, in := range p.spec.Matches {
		if ok, err := try(in); ok || err != nil {
			return err
		}
	}
	if p.spec.Target != nil {
		if ok, err := try(p.spec.Target); ok || err != nil {
			return err
		}
	}
	if p.spec.Proto && p.spec.IP.InvFlags&abi.InvProto == 0 {
		pname := protoName(p.spec.IP.Proto)
		if p.fam == abi.IPv6 && p.spec.IP.Proto == 58 {
			pname = "icmp6"
		}
		loaded := false
		for _, in := range p.spec.Matches {
			if in.ext.name == pname {
				loaded = true
			}
		}
		e := findExt(xt.Match, p.fam, pname)
		if e != nil && !loaded {
			in := &instance{ext: e, info: e.init(p.fam), seen: map[string]bool{}}
			if e.opt(name) != nil {
				p.spec.Matches = append(p.spec.Matches, in)
				p.invert = inv
				return p.extOption(name, val, hasVal)
			}
		}
		if note := unsupportedNote(xt.Match, pname); e == nil && note != "" {
			return paramErr("unknown option \"--%s\": Couldn't load match `%s'%s", name, pname, note)
		}
	}
	if p.spec.HasJump && p.spec.Target == nil && !p.spec.Goto {
		if _, std := abi.VerdictByName(p.spec.Jump); !std {
			// The option can only belong to a target extension this
			// package does not have.
			return paramErr("Couldn't load target `%s':No such file or directory%s", p.spec.Jump, unsupportedNote(xt.Target, p.spec.Jump))
		}
	}
	return paramErr("unknown option \"--%s\"", name)
}

func (p *parser) finish() (*Command, error) {
	c := p.cmd
	ruleOpts := []byte{'p', 's', 'd', 'i', 'o', 'f', 'j', 'g', 'm', 'c'}
	switch c.Op {
	case 0:
		return nil, paramErr("no command specified")
	case 'A', 'C', 'D', 'R', 'I':
		if c.Op == 'D' && c.RuleNum > 0 {
			for _, o := range ruleOpts {
				if p.given[o] {
					return nil, paramErr("Illegal option `-%c' with this command", o)
				}
			}
			return c, nil
		}
		if err := p.finishSpec(); err != nil {
			return nil, err
		}
		switch c.Chain {
		case "PREROUTING", "INPUT":
			if p.given['o'] {
				return nil, paramErr("Can't use -o with %s\n", c.Chain)
			}
		case "POSTROUTING", "OUTPUT":
			if p.given['i'] {
				return nil, paramErr("Can't use -i with %s\n", c.Chain)
			}
		}
		c.Spec = p.spec
	case 'V':
		return c, nil
	case 'h':
		c.Spec = p.spec
		return c, nil
	default:
		for _, o := range ruleOpts {
			if p.given[o] {
				return nil, paramErr("Illegal option `-%c' with this command", o)
			}
		}
	}
	if c.Op != 'L' && (c.Numeric || c.Exact || c.LineNumbers) {
		switch {
		case c.LineNumbers:
			return nil, paramErr("Illegal option `--line-numbers' with this command")
		case c.Numeric:
			return nil, paramErr("Illegal option `-n' with this command")
		default:
			return nil, paramErr("Illegal option `-x' with this command")
		}
	}
	if (c.Op == 'N' || c.Op == 'E') && c.Chain != "" {
		if err := checkChainName(c.Op, c.NewNameOr()); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// NewNameOr returns the name a -N or -E creates.
func (c *Command) NewNameOr() string {
	if c.Op == 'E' {
		return c.NewName
	}
	return c.Chain
}

func checkChainName(op byte, name string) error {
	if len(name) >= abi.FunctionNameLen-1 {
		return paramErr("chain name `%s' too long (must be under %d chars)", name, abi.FunctionNameLen-1)
	}
	if name == "" || name[0] == '-' || name[0] == '!' {
		return paramErr("chain name not allowed to start with `%c'", name[0])
	}
	if _, std := abi.VerdictByName(name); std || findExt(xt.Target, abi.IPv4, name) != nil {
		return paramErr("chain name may not clash with target name")
	}
	if strings.ContainsAny(name, " \t\n\x00") {
		return paramErr("Invalid chain name `%s'", name)
	}
	return nil
}

func (p *parser) finishSpec() error {
	for _, in := range p.spec.Matches {
		if in.ext.final != nil {
			if err := in.ext.final(&p.ctx, in.info, in.seen); err != nil {
				return err
			}
		}
	}
	if t := p.spec.Target; t != nil && t.ext.final != nil {
		if err := t.ext.final(&p.ctx, t.info, t.seen); err != nil {
			return err
		}
	}
	return nil
}

var _ = fmt.Sprintf
