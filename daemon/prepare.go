package daemon

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/bpfilter-go/bpfilter/daemon/proto"
	"github.com/bpfilter-go/bpfilter/ir"
)

// prepare turns a client's chain into a context entry: validated, with its
// interface and cgroup resolved as the client sees them and the attach keys
// computed. attach false drops the hook options (chain load).
func (s *State) prepare(front string, c *ir.Chain, peer Peer, attach bool) (*entry, error) {
	c = c.Clone()
	if c.User {
		return nil, errorf(proto.EOPNOTSUPP, "chain %s: user chains (JUMP/GOTO targets) are not supported by the daemon", c.Name)
	}
	if !attach {
		c.HookOpts = ir.HookOpts{}
	}
	if err := c.Validate(); err != nil {
		return nil, errorf(proto.EINVAL, "%w", err)
	}
	for i, r := range c.Rules {
		if r.Verdict.Kind == ir.Jump || r.Verdict.Kind == ir.Goto {
			return nil, errorf(proto.EOPNOTSUPP, "chain %s, rule %d: %s to user chains is not supported by the daemon", c.Name, i, r.Verdict.Kind)
		}
	}
	e := &entry{Front: front, Chain: c}
	if c.HookOpts.IsZero() {
		return e, nil
	}
	if err := s.resolveAttach(e, peer); err != nil {
		return nil, err
	}
	return e, nil
}

// resolveAttach fills the entry's attachment fields from its hook options.
func (s *State) resolveAttach(e *entry, peer Peer) error {
	c := e.Chain
	o := &c.HookOpts
	if err := o.ValidateFor(c.Hook); err != nil {
		return errorf(proto.EINVAL, "chain %s: %w", c.Name, err)
	}
	if !o.Attachable(c.Hook) {
		return errorf(proto.EINVAL, "chain %s: %s needs hook options to be attached (%s)", c.Name, c.Hook, requiredOpt(c.Hook))
	}
	if peer == nil {
		return errorf(proto.EINVAL, "chain %s: no client to resolve hook options for", c.Name)
	}
	var cgIno uint64
	switch c.Hook.Flavour() {
	case ir.FlavourXDP, ir.FlavourTC:
		idx, err := peer.LookupIface(o.Iface, o.Ifindex)
		if err != nil {
			return errorf(proto.ENOENT, "chain %s: %w", c.Name, err)
		}
		o.Ifindex, o.Iface = idx, ""
	case ir.FlavourNF:
		// Without priorities the engine uses bpf.DefaultNFPriorities;
		// attachKeys accounts for that.
	case ir.FlavourCgroupSkb, ir.FlavourCgroupSockAddr:
		host := peer.HostPath(o.CgroupPath)
		var st unix.Stat_t
		if err := unix.Stat(host, &st); err != nil {
			return errorf(proto.ENOENT, "chain %s: cgroup %s: %w", c.Name, o.CgroupPath, os.NewSyscallError("stat", err))
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return errorf(proto.EINVAL, "chain %s: cgroup %s is not a directory", c.Name, o.CgroupPath)
		}
		cgIno = st.Ino
		e.AttachPath = host
	}
	e.Attached = true
	e.NetnsID = peer.NetnsID()
	e.Keys = attachKeys(c, e.NetnsID, cgIno)
	return nil
}

func requiredOpt(h ir.Hook) string {
	switch h.Flavour() {
	case ir.FlavourXDP, ir.FlavourTC:
		return "ifindex"
	case ir.FlavourCgroupSkb, ir.FlavourCgroupSockAddr:
		return "cgpath"
	}
	return "priorities"
}

// checkPlan refuses a plan whose attachments collide with each other or
// with chains that stay in place (EEXIST), or that touches chains owned by
// another front.
func (s *State) checkPlan(p *plan) error {
	skip := map[string]bool{}
	for _, n := range p.remove {
		skip[n] = true
	}
	taken := map[string]string{}
	for _, e := range p.add {
		if skip[e.name()] {
			return errorf(proto.EINVAL, "chain %s is given twice", e.name())
		}
		skip[e.name()] = true
		if old := s.chains[e.name()]; old != nil && old.Front != p.front {
			return errorf(proto.EPERM, "chain %s belongs to the %s frontend", e.name(), old.Front)
		}
		if !exclusive(e.Chain.Hook) {
			continue
		}
		for _, k := range e.Keys {
			if other, ok := taken[k]; ok {
				return errorf(proto.EEXIST, "chains %s and %s would both attach to %s", other, e.name(), k)
			}
			taken[k] = e.name()
		}
	}
	for _, e := range p.add {
		if !exclusive(e.Chain.Hook) {
			continue
		}
		if n, k := s.conflict(e.Keys, skip); n != "" {
			return errorf(proto.EEXIST, "chain %s cannot attach to %s: chain %s is already attached there", e.name(), k, n)
		}
	}
	return nil
}

// ownEntry returns the named chain, checking it belongs to front.
func (s *State) ownEntry(front, name string) (*entry, error) {
	e := s.chains[name]
	if e == nil {
		return nil, errorf(proto.ENOENT, "chain %s does not exist", name)
	}
	if e.Front != front {
		return nil, errorf(proto.EPERM, "chain %s belongs to the %s frontend", name, e.Front)
	}
	return e, nil
}

// successor returns a new entry for e's chain replaced by c, keeping e's
// attachment (hook options of c are ignored, as `chain update` documents).
func successor(e *entry, c *ir.Chain) (*entry, error) {
	if c.Hook != e.Chain.Hook {
		return nil, errorf(proto.EINVAL, "chain %s: an update cannot move the chain from %s to %s (use chain set)", c.Name, e.Chain.Hook, c.Hook)
	}
	c = c.Clone()
	c.HookOpts = e.Chain.HookOpts
	if err := c.Validate(); err != nil {
		return nil, errorf(proto.EINVAL, "%w", err)
	}
	return &entry{
		Front: e.Front, Chain: c, Attached: e.Attached, Keys: append([]string(nil), e.Keys...),
		NetnsID: e.NetnsID, AttachPath: e.AttachPath,
	}, nil
}

func nameList(es []*entry) string {
	s := ""
	for i, e := range es {
		if i > 0 {
			s += ", "
		}
		s += e.name()
	}
	return fmt.Sprint(s)
}
