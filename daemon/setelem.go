package daemon

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/bpfilter-go/bpfilter/daemon/proto"
	"github.com/bpfilter-go/bpfilter/ir"
)

// parseElem parses a set element written as bfcli writes it: one value per
// key component, comma-separated ("10.0.0.1, 80").
func parseElem(st *ir.Set, text string, env ir.ParseEnv) (ir.SetElem, error) {
	parts := strings.Split(text, ",")
	if len(parts) != len(st.Key) {
		return ir.SetElem{}, fmt.Errorf("element %q has %d components, set %s has %d", text, len(parts), st.Name, len(st.Key))
	}
	var key []byte
	prefix := 0
	for i, f := range st.Key {
		v, mask, err := f.Info().Kind.Parse(strings.TrimSpace(parts[i]), env)
		if err != nil {
			return ir.SetElem{}, fmt.Errorf("element %q, %s: %w", text, f, err)
		}
		if st.IsLPM() {
			prefix = len(v) * 8
			if mask != nil {
				prefix = ir.PrefixLen(mask)
			}
		} else if mask != nil && !bytes.Equal(mask, bytes.Repeat([]byte{0xff}, len(mask))) {
			return ir.SetElem{}, fmt.Errorf("element %q, %s: a mask is not allowed here", text, f)
		}
		key = append(key, v...)
	}
	return ir.SetElem{Key: key, PrefixLen: prefix}, nil
}

func sameElem(a, b ir.SetElem) bool { return a.PrefixLen == b.PrefixLen && bytes.Equal(a.Key, b.Key) }

// editSet applies update-set's additions and removals to the named set of c.
func editSet(c *ir.Chain, name string, add, remove []string, peer Peer) error {
	st := c.Set(name)
	if st == nil || st.Anonymous {
		return errorf(proto.ENOENT, "chain %s has no named set %q", c.Name, name)
	}
	env := ir.ParseEnv{}
	if peer != nil {
		env.ResolveIface = func(n string) (uint32, error) { return peer.LookupIface(n, 0) }
	}
	for _, t := range remove {
		el, err := parseElem(st, t, env)
		if err != nil {
			return errorf(proto.EINVAL, "%w", err)
		}
		found := false
		for i, x := range st.Elems {
			if sameElem(x, el) {
				st.Elems = append(st.Elems[:i], st.Elems[i+1:]...)
				found = true
				break
			}
		}
		if !found {
			return errorf(proto.ENOENT, "set %s has no element %q", name, t)
		}
	}
	for _, t := range add {
		el, err := parseElem(st, t, env)
		if err != nil {
			return errorf(proto.EINVAL, "%w", err)
		}
		dup := false
		for _, x := range st.Elems {
			dup = dup || sameElem(x, el)
		}
		if !dup {
			st.Elems = append(st.Elems, el)
		}
	}
	return nil
}
