package bpf

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/bpfilter-go/bpfilter/ir"
)

// DefaultNFPriorities are the netfilter priorities used when a chain sets
// none: the program runs at the first, and an update attaches the new
// program at the other one before detaching the old. Both come after
// conntrack (-200) and iptables' filter table (0), like a filter table of
// its own.
var DefaultNFPriorities = [2]int32{1, 2}

// NFPriorities returns the two priorities of opts, or
// DefaultNFPriorities when unset.
func NFPriorities(opts ir.HookOpts) [2]int32 {
	if opts.Priorities == ([2]int32{}) {
		return DefaultNFPriorities
	}
	return opts.Priorities
}

// NFHooknum returns the netfilter hook number (NF_INET_*) of a netfilter
// hook.
func NFHooknum(h ir.Hook) (link.NetfilterInetHook, error) {
	switch h {
	case ir.HookNFPreRouting:
		return link.NetfilterInetPreRouting, nil
	case ir.HookNFLocalIn:
		return link.NetfilterInetLocalIn, nil
	case ir.HookNFForward:
		return link.NetfilterInetForward, nil
	case ir.HookNFLocalOut:
		return link.NetfilterInetLocalOut, nil
	case ir.HookNFPostRouting:
		return link.NetfilterInetPostRouting, nil
	}
	return 0, fmt.Errorf("%s is not a netfilter hook", h)
}

// nfFamilies are the families every netfilter chain is attached to, in
// the order of Attachment.links.
var nfFamilies = [2]struct {
	pf   link.NetfilterProtocolFamily
	name string
}{{link.NetfilterProtoIPv4, "ipv4"}, {link.NetfilterProtoIPv6, "ipv6"}}

// attachNetfilter attaches prog at hook and priority for IPv4 and IPv6.
// Either both links are made or none.
func attachNetfilter(prog *ebpf.Program, hook ir.Hook, priority int32) ([]link.Link, error) {
	hooknum, err := NFHooknum(hook)
	if err != nil {
		return nil, err
	}
	var links []link.Link
	for _, fam := range nfFamilies {
		l, err := link.AttachNetfilter(link.NetfilterOptions{
			Program:        prog,
			ProtocolFamily: fam.pf,
			Hook:           hooknum,
			Priority:       priority,
		})
		if err != nil {
			for _, l := range links {
				_ = l.Close() // undoing a partial attach; the attach error is what matters
			}
			return nil, fmt.Errorf("netfilter %s hook %d priority %d: %w", fam.name, hooknum, priority, err)
		}
		links = append(links, l)
	}
	return links, nil
}

// updateNetfilter is make-before-break: netfilter links cannot swap their
// program, so prog is attached at the other of the chain's two priorities
// for both families, and only then are the old links closed. Between the
// two steps both programs run, the new one after (or before) the old one
// depending on the priorities; the old one never stops before the new one
// runs. The new links are made in the namespace of the old ones. Pins, if
// any, are moved to the new links.
func (a *Attachment) updateNetfilter(prog *ebpf.Program) error {
	prios := NFPriorities(a.Opts)
	next := prios[0]
	if a.priority == prios[0] {
		next = prios[1]
	}
	var links []link.Link
	err := inNetns(a.netns, func() error {
		var err error
		links, err = attachNetfilter(prog, a.Hook, next)
		return err
	})
	if err != nil {
		return fmt.Errorf("update %s: %w", a.Hook, err)
	}
	old := a.links
	var errs []error
	if a.pinDir != "" {
		for _, l := range old {
			if err := l.Unpin(); err != nil {
				errs = append(errs, fmt.Errorf("unpin old %s link: %w", a.Hook, err))
			}
		}
	}
	for _, l := range old {
		if err := l.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close old %s link: %w", a.Hook, err))
		}
	}
	a.links, a.priority = links, next
	if a.pinDir != "" {
		if err := a.pinLinks(a.pinDir); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("update %s: new program attached at priority %d, but: %w", a.Hook, next, errors.Join(errs...))
	}
	return nil
}
