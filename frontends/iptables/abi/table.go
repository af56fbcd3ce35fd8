package abi

import (
	"fmt"
	"net/netip"

	"github.com/bpfilter-go/bpfilter/frontends/iptables/xt"
)

// Family is the address family of a table: iptables (IPv4) or ip6tables.
type Family uint8

// The two families.
const (
	IPv4 Family = 4
	IPv6 Family = 6
)

// String returns "ipv4" or "ipv6".
func (f Family) String() string {
	switch f {
	case IPv4:
		return "ipv4"
	case IPv6:
		return "ipv6"
	}
	return fmt.Sprintf("family(%d)", uint8(f))
}

// EntrySize is sizeof(ipt_entry) or sizeof(ip6t_entry).
func (f Family) EntrySize() int {
	if f == IPv6 {
		return IPv6EntrySize
	}
	return IPv4EntrySize
}

// Hook numbers (enum nf_inet_hooks).
const (
	HookPreRouting  = 0
	HookLocalIn     = 1
	HookForward     = 2
	HookLocalOut    = 3
	HookPostRouting = 4
)

// HookChainNames are the builtin chain names of each hook.
var HookChainNames = [NumHooks]string{"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"}

// Counters are packet and byte counters (struct xt_counters).
type Counters struct {
	Packets uint64
	Bytes   uint64
}

// Table is a decoded iptables table: its builtin chains in hook order, then
// its user chains in blob order.
type Table struct {
	Name       string
	Family     Family
	ValidHooks uint32
	Chains     []*Chain
}

// Chain is a builtin chain (Hook >= 0, with a policy) or a user chain
// (Hook == -1).
type Chain struct {
	Name string
	// Hook is the netfilter hook number of a builtin chain, -1 for a user
	// chain.
	Hook int
	// Policy is the standard verdict of a builtin chain's underflow entry
	// (VerdictAccept or VerdictDrop).
	Policy int32
	// Counters are the policy counters of a builtin chain, or the counters
	// of a user chain's final RETURN entry.
	Counters Counters
	Rules    []*Rule
	// Origin is the 1-based index, in the blob the chain was decoded from,
	// of its policy or RETURN entry; 0 for a chain built in memory.
	Origin int
	// CountersSet marks Counters as set explicitly (zeroed, or given by
	// a restore with --counters) rather than carried from the kernel.
	CountersSet bool
}

// Builtin tells whether the chain is attached to a hook.
func (c *Chain) Builtin() bool { return c.Hook >= 0 }

// IPHeader is the ipt_ip / ip6t_ip6 part of an entry. IPv4 tables use 4-byte
// addresses; IPv6 tables use 16-byte addresses and may set TOS.
type IPHeader struct {
	Src, Dst, SrcMask, DstMask netip.Addr
	InIface, OutIface          string
	InIfaceMask, OutIfaceMask  [IfNameLen]byte
	Proto                      uint16
	TOS                        uint8
	Flags                      uint8
	InvFlags                   uint8
}

// Match is one xt_entry_match: the extension name and revision and its data
// exactly as in the blob (length match_size - 32, padding included). Info
// is the decoded data when package xt has a codec for the match, else nil;
// Encode writes Data, so whoever changes Info must refresh Data.
type Match struct {
	Name     string
	Revision uint8
	Data     []byte
	Info     xt.Info
}

// TargetKind tells how to read a Target.
type TargetKind uint8

// Target kinds.
const (
	// TargetVerdict is a standard target with a builtin verdict (ACCEPT,
	// DROP, QUEUE or RETURN) in Verdict.
	TargetVerdict TargetKind = iota
	// TargetJump is a standard target jumping (or, with the goto flag, going)
	// to the user chain named in Chain.
	TargetJump
	// TargetFallthrough is a standard target whose jump offset is the next
	// entry: a rule without -j that only counts.
	TargetFallthrough
	// TargetExtension is any other target: Name, Revision and Data.
	TargetExtension
)

// Target is an entry's xt_entry_target. For TargetExtension, Info is the
// decoded Data when package xt has a codec for it, else nil.
type Target struct {
	Kind     TargetKind
	Verdict  int32
	Chain    string
	Name     string
	Revision uint8
	Data     []byte
	Info     xt.Info
}

// XTFamily converts the family for package xt.
func (f Family) XTFamily() xt.Family { return xt.Family(f) }

// NewMatch builds a match from typed data.
func NewMatch(name string, rev uint8, info xt.Info) Match {
	return Match{Name: name, Revision: rev, Data: info.Marshal(), Info: info}
}

// NewTarget builds an extension target from typed data.
func NewTarget(name string, rev uint8, info xt.Info) Target {
	return Target{Kind: TargetExtension, Name: name, Revision: rev, Data: info.Marshal(), Info: info}
}

// Rule is one ipt_entry / ip6t_entry of a chain.
type Rule struct {
	IP       IPHeader
	Matches  []Match
	Target   Target
	Counters Counters
	// NFCache is the entry's nfcache field, kept as found.
	NFCache uint32
	// Origin is the 1-based index of the entry in the blob the rule was
	// decoded from; 0 for a rule built in memory. Writers use it to carry
	// the kernel's live counters over a table replacement, like libiptc.
	Origin int
	// CountersSet marks Counters as set explicitly (-c, -Z, restore
	// --counters) rather than carried from the kernel.
	CountersSet bool
}

// Chain returns the chain with the given name or nil.
func (t *Table) Chain(name string) *Chain {
	for _, c := range t.Chains {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// VerdictName names a builtin standard verdict as iptables prints it.
func VerdictName(v int32) (string, bool) {
	switch v {
	case VerdictAccept:
		return "ACCEPT", true
	case VerdictDrop:
		return "DROP", true
	case VerdictQueue:
		return "QUEUE", true
	case VerdictReturn:
		return "RETURN", true
	}
	return "", false
}

// VerdictByName is the inverse of VerdictName.
func VerdictByName(name string) (int32, bool) {
	switch name {
	case "ACCEPT":
		return VerdictAccept, true
	case "DROP":
		return VerdictDrop, true
	case "QUEUE":
		return VerdictQueue, true
	case "RETURN":
		return VerdictReturn, true
	}
	return 0, false
}
