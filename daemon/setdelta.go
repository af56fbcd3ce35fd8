package daemon

import (
	"github.com/bpfilter-go/bpfilter/daemon/proto"
	"github.com/bpfilter-go/bpfilter/ir"
)

// setDeltaOf parses update-set's element texts against the named set of
// c (interface names resolve in the client's network namespace).
func setDeltaOf(c *ir.Chain, name string, add, remove []string, peer Peer) (*setDelta, error) {
	st := c.Set(name)
	if st == nil || st.Anonymous {
		return nil, errorf(proto.ENOENT, "chain %s has no named set %q", c.Name, name)
	}
	env := ir.ParseEnv{}
	if peer != nil {
		env.ResolveIface = func(n string) (uint32, error) { return peer.LookupIface(n, 0) }
	}
	d := &setDelta{Name: name}
	for _, t := range remove {
		el, err := parseElem(st, t, env)
		if err != nil {
			return nil, errorf(proto.EINVAL, "%w", err)
		}
		d.Remove = append(d.Remove, el)
	}
	for _, t := range add {
		el, err := parseElem(st, t, env)
		if err != nil {
			return nil, errorf(proto.EINVAL, "%w", err)
		}
		d.Add = append(d.Add, el)
	}
	return d, nil
}
