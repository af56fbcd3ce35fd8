package iptables

import (
	"strings"

	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
	"github.com/bpfilter-go/bpfilter/frontends/iptables/xt"
)

// argKind says whether an extension option takes an argument.
type argKind uint8

const (
	noArg argKind = iota
	needArg
	// twoArgs options take two arguments, passed joined by a space.
	twoArgs
)

// extOpt is one --option of an extension.
type extOpt struct {
	name string
	arg  argKind
	// invert tells whether "! --option" is allowed.
	invert bool
}

// parseCtx is what an extension's parser sees of the rule being built.
type parseCtx struct {
	fam   abi.Family
	ip    *abi.IPHeader
	chain string
}

// ext is the command-line side of one match or target: iptables' libxt_*
// module. The data it builds is encoded by package xt.
type ext struct {
	name   string
	kind   xt.Kind
	rev    uint8
	family xt.Family
	opts   []extOpt
	// init returns fresh data with iptables' defaults.
	init func(fam abi.Family) xt.Info
	// parse handles one option; seen holds the options given so far on this
	// instance.
	parse func(c *parseCtx, info xt.Info, opt, arg string, inv bool, seen map[string]bool) error
	// final checks the complete instance (x6_fcheck), may be nil.
	final func(c *parseCtx, info xt.Info, seen map[string]bool) error
	// save writes the options as iptables-save does, each with a leading
	// space.
	save func(w *strings.Builder, fam abi.Family, ip *abi.IPHeader, info xt.Info)
	// print writes the -L form, with a leading space unless empty.
	print func(w *strings.Builder, fam abi.Family, ip *abi.IPHeader, info xt.Info, numeric bool)
	// kernelCheck mirrors the kernel's checkentry, called once for each
	// hook the rule's chain is reachable from (once with hook -1 when
	// none): an error is reported as EINVAL.
	kernelCheck func(fam abi.Family, ip *abi.IPHeader, info xt.Info, hook int) error
	// table and hooks restrict where the kernel accepts the extension
	// (the .table and .hooks of its xt_match/xt_target); empty and 0 mean
	// anywhere.
	table string
	hooks uint32
	// alias is the name -m accepts and save prints when it differs from
	// the kernel name (state is conntrack with the alias flag).
	alias string
	// decodeOnly extensions are printed but never chosen by -m or -j.
	decodeOnly bool
}

var exts []*ext

func registerExt(e *ext) { exts = append(exts, e) }

// findExt finds the extension by the name the user types.
func findExt(kind xt.Kind, fam abi.Family, name string) *ext {
	for _, e := range exts {
		if e.kind != kind || e.decodeOnly || (e.family != xt.Any && e.family != fam.XTFamily()) {
			continue
		}
		if (e.alias == "" && e.name == name) || e.alias == name {
			return e
		}
	}
	return nil
}

// extFor finds the extension that printed data belongs to.
func extFor(kind xt.Kind, fam abi.Family, name string, rev uint8, info xt.Info) *ext {
	var found *ext
	for _, e := range exts {
		if e.kind != kind || e.name != name || e.rev != rev || (e.family != xt.Any && e.family != fam.XTFamily()) {
			continue
		}
		if e.alias != "" {
			var flags uint16
			switch ct := info.(type) {
			case *xt.Conntrack:
				flags = ct.MatchFlags
			case *xt.ConntrackOld:
				flags = ct.MatchFlags
			}
			if flags&xt.CTStateAlias != 0 {
				return e
			}
			continue
		}
		found = e
	}
	return found
}

func (e *ext) opt(name string) *extOpt {
	for i := range e.opts {
		if e.opts[i].name == name {
			return &e.opts[i]
		}
	}
	return nil
}

// shown name of an extension.
func (e *ext) userName() string {
	if e.alias != "" {
		return e.alias
	}
	return e.name
}
