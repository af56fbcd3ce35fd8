package proto

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/bpfilter-go/bpfilter/ir"
)

// ParseHookOption parses one "key=value" hook option (as given to
// `bfcli chain attach --option`) into o. Keys: ifindex (a number, or an
// interface name resolved with resolve), iface, cgpath, family,
// priorities (A-B). An option may only be given once.
func ParseHookOption(s string, o *ir.HookOpts, resolve func(string) (uint32, error)) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || v == "" {
		return fmt.Errorf("hook option %q: want key=value", s)
	}
	dup := func() error { return fmt.Errorf("hook option %s is given more than once", k) }
	switch k {
	case "ifindex", "iface":
		if o.Ifindex != 0 || o.Iface != "" {
			return dup()
		}
		if n, err := strconv.ParseUint(v, 10, 32); err == nil {
			if n == 0 {
				return fmt.Errorf("hook option %s: interface index 0 is invalid", k)
			}
			o.Ifindex = uint32(n)
			return nil
		}
		if len(v) >= 16 || strings.ContainsAny(v, "/ \t") {
			return fmt.Errorf("hook option %s: invalid interface %q", k, v)
		}
		if resolve == nil {
			o.Iface = v
			return nil
		}
		idx, err := resolve(v)
		if err != nil {
			return fmt.Errorf("hook option %s: %w", k, err)
		}
		o.Ifindex = idx
	case "cgpath":
		if o.CgroupPath != "" {
			return dup()
		}
		o.CgroupPath = v
	case "family":
		if o.Family != "" {
			return dup()
		}
		o.Family = v
	case "priorities":
		if o.Priorities != [2]int32{} {
			return dup()
		}
		a, b, ok := strings.Cut(v, "-")
		// A leading minus belongs to the first number.
		if strings.HasPrefix(v, "-") {
			i := strings.Index(v[1:], "-")
			if i < 0 {
				ok = false
			} else {
				a, b, ok = v[:i+1], v[i+2:], true
			}
		}
		if !ok {
			return fmt.Errorf("hook option priorities: want A-B, got %q", v)
		}
		pa, err1 := strconv.ParseInt(a, 10, 32)
		pb, err2 := strconv.ParseInt(b, 10, 32)
		if err1 != nil || err2 != nil {
			return fmt.Errorf("hook option priorities: want two integers A-B, got %q", v)
		}
		o.Priorities = [2]int32{int32(pa), int32(pb)}
	default:
		return fmt.Errorf("unknown hook option %q (want ifindex, cgpath, family or priorities)", k)
	}
	return nil
}
