package ir

import (
	"fmt"
	"strings"
)

// Hook is a kernel location a chain can be attached to.
type Hook uint8

// The hooks a chain can be attached to. The order is part of the serialised
// format: append new hooks at the end.
const (
	HookXDP Hook = iota
	HookTCIngress
	HookTCEgress
	HookNFPreRouting
	HookNFLocalIn
	HookNFForward
	HookNFLocalOut
	HookNFPostRouting
	HookCgroupSkbIngress
	HookCgroupSkbEgress
	HookCgroupSockAddrConnect4
	HookCgroupSockAddrConnect6
	HookCgroupSockAddrSendmsg4
	HookCgroupSockAddrSendmsg6
	numHooks
)

// Flavour groups hooks that share a program type and context layout.
type Flavour uint8

// Hook flavours.
const (
	FlavourXDP Flavour = iota
	FlavourTC
	FlavourNF
	FlavourCgroupSkb
	FlavourCgroupSockAddr
)

// String returns the flavour's name.
func (f Flavour) String() string {
	switch f {
	case FlavourXDP:
		return "xdp"
	case FlavourTC:
		return "tc"
	case FlavourNF:
		return "netfilter"
	case FlavourCgroupSkb:
		return "cgroup_skb"
	case FlavourCgroupSockAddr:
		return "cgroup_sock_addr"
	}
	return fmt.Sprintf("flavour(%d)", uint8(f))
}

type hookInfo struct {
	name    string
	flavour Flavour
	ingress bool
}

var hookTable = [numHooks]hookInfo{
	HookXDP:                    {"BF_HOOK_XDP", FlavourXDP, true},
	HookTCIngress:              {"BF_HOOK_TC_INGRESS", FlavourTC, true},
	HookTCEgress:               {"BF_HOOK_TC_EGRESS", FlavourTC, false},
	HookNFPreRouting:           {"BF_HOOK_NF_PRE_ROUTING", FlavourNF, true},
	HookNFLocalIn:              {"BF_HOOK_NF_LOCAL_IN", FlavourNF, true},
	HookNFForward:              {"BF_HOOK_NF_FORWARD", FlavourNF, true},
	HookNFLocalOut:             {"BF_HOOK_NF_LOCAL_OUT", FlavourNF, false},
	HookNFPostRouting:          {"BF_HOOK_NF_POST_ROUTING", FlavourNF, false},
	HookCgroupSkbIngress:       {"BF_HOOK_CGROUP_SKB_INGRESS", FlavourCgroupSkb, true},
	HookCgroupSkbEgress:        {"BF_HOOK_CGROUP_SKB_EGRESS", FlavourCgroupSkb, false},
	HookCgroupSockAddrConnect4: {"BF_HOOK_CGROUP_SOCK_ADDR_CONNECT4", FlavourCgroupSockAddr, false},
	HookCgroupSockAddrConnect6: {"BF_HOOK_CGROUP_SOCK_ADDR_CONNECT6", FlavourCgroupSockAddr, false},
	HookCgroupSockAddrSendmsg4: {"BF_HOOK_CGROUP_SOCK_ADDR_SENDMSG4", FlavourCgroupSockAddr, false},
	HookCgroupSockAddrSendmsg6: {"BF_HOOK_CGROUP_SOCK_ADDR_SENDMSG6", FlavourCgroupSockAddr, false},
}

// hookAliases are accepted by ParseHook in addition to the canonical names.
var hookAliases = map[string]Hook{
	"BF_HOOK_CGROUP_INGRESS": HookCgroupSkbIngress,
	"BF_HOOK_CGROUP_EGRESS":  HookCgroupSkbEgress,
}

// Hooks returns every hook, in declaration order.
func Hooks() []Hook {
	h := make([]Hook, numHooks)
	for i := range h {
		h[i] = Hook(i)
	}
	return h
}

// Valid reports whether h is a known hook.
func (h Hook) Valid() bool { return h < numHooks }

// String returns the bfcli name of the hook, e.g. "BF_HOOK_XDP".
func (h Hook) String() string {
	if !h.Valid() {
		return fmt.Sprintf("BF_HOOK_UNKNOWN(%d)", uint8(h))
	}
	return hookTable[h].name
}

// FlavourInvalid is the flavour of an invalid hook: no program type.
const FlavourInvalid Flavour = 255

// Flavour returns the program flavour used for the hook (FlavourInvalid for
// an invalid hook).
func (h Hook) Flavour() Flavour {
	if !h.Valid() {
		return FlavourInvalid
	}
	return hookTable[h].flavour
}

// Ingress reports whether the hook sees packets on their way in (so
// meta.iface is the input interface). False for an invalid hook.
func (h Hook) Ingress() bool { return h.Valid() && hookTable[h].ingress }

// IsSockAddr reports whether the hook works on socket addresses rather than
// packets.
func (h Hook) IsSockAddr() bool { return h.Flavour() == FlavourCgroupSockAddr }

// SockAddrFamily returns 4 or 6 for cgroup sock_addr hooks, 0 otherwise.
func (h Hook) SockAddrFamily() int {
	switch h {
	case HookCgroupSockAddrConnect4, HookCgroupSockAddrSendmsg4:
		return 4
	case HookCgroupSockAddrConnect6, HookCgroupSockAddrSendmsg6:
		return 6
	}
	return 0
}

// IsSendmsg reports whether the hook is a cgroup sendmsg hook.
func (h Hook) IsSendmsg() bool {
	return h == HookCgroupSockAddrSendmsg4 || h == HookCgroupSockAddrSendmsg6
}

// ParseHook parses a hook name (case-sensitive, as bfcli writes them).
func ParseHook(s string) (Hook, error) {
	for i, hi := range hookTable {
		if hi.name == s {
			return Hook(i), nil
		}
	}
	if h, ok := hookAliases[s]; ok {
		return h, nil
	}
	return 0, fmt.Errorf("unknown hook %q", s)
}

// HookOpts are the hook-specific attach options of a chain. The zero value
// means "no options": the chain is loaded but not attached.
type HookOpts struct {
	// Ifindex is the interface for XDP and TC hooks (0: unset).
	Ifindex uint32
	// Iface is the interface name given instead of an index; the daemon
	// resolves it in the client's network namespace and fills Ifindex.
	Iface string
	// CgroupPath is the cgroup v2 directory for cgroup hooks.
	CgroupPath string
	// Priorities are the two netfilter priorities used for make-before-break
	// updates (both zero: unset).
	Priorities [2]int32
	// Family is the deprecated netfilter family option ("inet4", "inet6"),
	// kept so the chain prints back as written. Netfilter chains attach to
	// both families regardless.
	Family string
}

// IsZero reports whether no option is set.
func (o HookOpts) IsZero() bool { return o == HookOpts{} }

// Attachable reports whether the options are enough to attach a chain on h.
func (o HookOpts) Attachable(h Hook) bool {
	switch h.Flavour() {
	case FlavourXDP, FlavourTC:
		return o.Ifindex != 0 || o.Iface != ""
	case FlavourCgroupSkb, FlavourCgroupSockAddr:
		return o.CgroupPath != ""
	case FlavourNF:
		return true
	}
	return false
}

// String prints the options as bfcli writes them, without braces, in a
// fixed order ("" when none is set).
func (o HookOpts) String() string {
	var parts []string
	if o.Family != "" {
		parts = append(parts, "family="+o.Family)
	}
	if o.Ifindex != 0 {
		parts = append(parts, fmt.Sprintf("ifindex=%d", o.Ifindex))
	} else if o.Iface != "" {
		parts = append(parts, "iface="+o.Iface)
	}
	if o.CgroupPath != "" {
		parts = append(parts, "cgpath="+o.CgroupPath)
	}
	if o.Priorities != [2]int32{} {
		parts = append(parts, fmt.Sprintf("priorities=%d-%d", o.Priorities[0], o.Priorities[1]))
	}
	return strings.Join(parts, ",")
}

// ValidateFor checks that every option set is supported by hook h.
func (o HookOpts) ValidateFor(h Hook) error {
	f := h.Flavour()
	if (o.Ifindex != 0 || o.Iface != "") && f != FlavourXDP && f != FlavourTC {
		return fmt.Errorf("hook option ifindex/iface is not supported by %s", h)
	}
	if o.CgroupPath != "" && f != FlavourCgroupSkb && f != FlavourCgroupSockAddr {
		return fmt.Errorf("hook option cgpath is not supported by %s", h)
	}
	if o.Priorities != [2]int32{} {
		if f != FlavourNF {
			return fmt.Errorf("hook option priorities is not supported by %s", h)
		}
		if o.Priorities[0] == 0 || o.Priorities[1] == 0 || o.Priorities[0] == o.Priorities[1] {
			return fmt.Errorf("hook option priorities needs two different non-zero values, got %d-%d", o.Priorities[0], o.Priorities[1])
		}
	}
	if o.Family != "" {
		if f != FlavourNF {
			return fmt.Errorf("hook option family is not supported by %s", h)
		}
		if o.Family != "inet4" && o.Family != "inet6" {
			return fmt.Errorf("hook option family must be inet4 or inet6, got %q", o.Family)
		}
	}
	return nil
}
