package ir

import (
	"fmt"
	"strings"
)

// IfNameSize is IFNAMSIZ: the bytes of an interface name, NUL included.
const IfNameSize = 16

func netfilterOnly(h Hook) bool { return h.Flavour() == FlavourNF }

// IfNameBytes returns name as the kernel stores it in net_device.name:
// IfNameSize bytes, NUL padded (longer names are cut).
func IfNameBytes(name string) []byte {
	b := make([]byte, IfNameSize)
	copy(b[:IfNameSize-1], name)
	return b
}

// IfNameMatch returns the value and mask of an interface name match as
// iptables builds them: "eth0" compares the name and its terminating NUL,
// "eth+" only the prefix "eth" ("+" alone matches every name).
func IfNameMatch(name string) (value, mask []byte, err error) {
	wild := strings.HasSuffix(name, "+")
	base := strings.TrimSuffix(name, "+")
	if len(base) >= IfNameSize || (!wild && name == "") {
		return nil, nil, fmt.Errorf("invalid interface name %q", name)
	}
	n := len(base)
	if !wild {
		n++ // the NUL must match too
	}
	value, mask = IfNameBytes(base), make([]byte, IfNameSize)
	for i := 0; i < n; i++ {
		mask[i] = 0xff
	}
	return value, mask, nil
}

// parseIfName parses an interface name ("eth0", "eth+") or the raw form
// Format prints for other values: 0x<32 hex digits>, optionally followed
// by /0x<32 hex digits> for the mask.
func parseIfName(s string) ([]byte, []byte, error) {
	if !strings.HasPrefix(s, "0x") {
		for _, c := range strings.TrimSuffix(s, "+") {
			if !ifNameSafe(c) {
				return nil, nil, fmt.Errorf("invalid interface name %q", s)
			}
		}
		return IfNameMatch(s)
	}
	vs, ms, hasMask := strings.Cut(s, "/")
	value, err := parseHex16(vs)
	if err != nil {
		return nil, nil, err
	}
	if !hasMask {
		return value, nil, nil
	}
	mask, err := parseHex16(ms)
	if err != nil {
		return nil, nil, err
	}
	return value, mask, nil
}

func parseHex16(s string) ([]byte, error) {
	if len(s) != 2+2*IfNameSize || !strings.HasPrefix(s, "0x") {
		return nil, fmt.Errorf("invalid raw interface name %q (want 0x and %d hex digits)", s, 2*IfNameSize)
	}
	b := make([]byte, IfNameSize)
	for i := range b {
		x, err := parseUint("0x"+s[2+2*i:4+2*i], 0xff, true)
		if err != nil {
			return nil, fmt.Errorf("invalid raw interface name %q: %w", s, err)
		}
		b[i] = byte(x)
	}
	return b, nil
}

// ifNameSafe reports whether c may appear in a printed interface name.
func ifNameSafe(c rune) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' || c == '@'
}

// formatIfName prints a name match as iptables writes it ("eth0", "eth+")
// when the value and mask have that shape, else in the raw hex form.
func formatIfName(value, mask []byte) string {
	if mask != nil {
		n := 0
		for n < len(mask) && mask[n] == 0xff {
			n++
		}
		end := 0
		for end < len(value) && value[end] != 0 {
			end++
		}
		name := string(value[:end])
		safe := allZeroBytes(mask[n:]) && name != "" && !strings.HasPrefix(name, "0x")
		for _, c := range name {
			safe = safe && ifNameSafe(c)
		}
		switch {
		case safe && n == end+1 && allZeroBytes(value[end:]):
			return name
		case n == 0 && allZeroBytes(value) && allZeroBytes(mask):
			return "+"
		case safe && n == end && allZeroBytes(value[n:]):
			return name + "+"
		}
	}
	s := fmt.Sprintf("0x%x", value)
	if mask != nil {
		s += fmt.Sprintf("/0x%x", mask)
	}
	return s
}

func allZeroBytes(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

// Conntrack state bits of ct.state, in xt_conntrack's layout
// (XT_CONNTRACK_STATE_*).
const (
	CtStateInvalid     = 1 << 0
	CtStateEstablished = 1 << 1
	CtStateRelated     = 1 << 2
	CtStateNew         = 1 << 3
	CtStateUntracked   = 1 << 8
)

var ctStateNames = []namedNum{
	{"INVALID", CtStateInvalid}, {"ESTABLISHED", CtStateEstablished}, {"RELATED", CtStateRelated},
	{"NEW", CtStateNew}, {"UNTRACKED", CtStateUntracked},
}

// Conntrack info values (enum ip_conntrack_info) and the skb->_nfct layout.
const (
	// NFCTInfoMask selects the ctinfo bits of skb->_nfct; the other bits
	// are the struct nf_conn pointer.
	NFCTInfoMask = 7
	// CtInfoUntracked is IP_CT_UNTRACKED (no conntrack entry).
	CtInfoUntracked = 7
	// ctIsReply is IP_CT_IS_REPLY.
	ctIsReply = 3
)

// CtStateBit returns the ct.state bit of a packet whose skb->_nfct is nfct,
// as xt_conntrack computes it: with a conntrack entry (pointer bits set),
// 1 << (ctinfo % IP_CT_IS_REPLY + 1); without one, UNTRACKED when ctinfo
// is IP_CT_UNTRACKED, INVALID otherwise.
func CtStateBit(nfct uint64) uint32 {
	info := nfct & NFCTInfoMask
	switch {
	case nfct&^NFCTInfoMask != 0:
		return 1 << (info%ctIsReply + 1)
	case info == CtInfoUntracked:
		return CtStateUntracked
	}
	return CtStateInvalid
}

func parseCtState(s string) ([]byte, []byte, error) {
	var v uint64
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		n, ok := lookupName(ctStateNames, part)
		if !ok && strings.HasPrefix(part, "0x") {
			x, err := parseUint(part, 1<<32-1, true)
			n, ok = x, err == nil
		}
		if !ok {
			return nil, nil, fmt.Errorf("unknown conntrack state %q (use INVALID, ESTABLISHED, RELATED, NEW or UNTRACKED)", part)
		}
		v |= n
	}
	return putUint(v, 4), nil, nil
}

func formatCtState(v uint64) string {
	var parts []string
	for _, n := range ctStateNames {
		if v&n.num != 0 {
			parts = append(parts, n.name)
			v &^= n.num
		}
	}
	if v != 0 || len(parts) == 0 {
		parts = append(parts, fmt.Sprintf("0x%x", v))
	}
	return strings.Join(parts, ",")
}

// netfilterFieldValue extracts the netfilter-only fields.
func netfilterFieldValue(f Field, p *Packet) ([]byte, bool) {
	switch f {
	case MetaIifName:
		return IfNameBytes(p.InIfName), true
	case MetaOifName:
		return IfNameBytes(p.OutIfName), true
	case CtState:
		return putUint(uint64(CtStateBit(p.NFCT)), 4), true
	case CtProto:
		// Only packets with a conntrack entry have one.
		return []byte{p.CtProto}, p.NFCT&^NFCTInfoMask != 0
	}
	return nil, false
}
