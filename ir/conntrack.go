package ir

import (
	"fmt"
	"strings"
)

// Conntrack entry fields: the criteria of xt_conntrack beyond the state
// (iptables -m conntrack --ctproto, --ctorigsrc..., --ctstatus,
// --ctexpire, --ctdir). They read the conntrack entry skb->_nfct points to.
//
// conntrack_mt only consults them for packets with an entry: without one
// the match is decided by --ctstate alone (true when the state criterion
// was given and held, false when it was not given). So that one IR rule
// can express that, these fields HOLD for packets without a conntrack
// entry, negated or not; a rule that must not match such packets adds
// "ct.state any NEW,ESTABLISHED,RELATED" (the states of packets with an
// entry), as the iptables translator does when --ctstate is absent.
//
// With an entry:
//   - ct.proto: the original tuple's layer 4 protocol (nf_ct_protonum);
//   - ct.dir: ORIGINAL or REPLY, the direction of the packet
//     (CTINFO2DIR(ctinfo));
//   - ct.status: the entry's status bits (ct->status; "any" holds when
//     one of the given bits is set, as !!(status_mask & ct->status));
//   - ct.expire: the seconds left, nf_ct_expires(ct) / HZ, where
//     nf_ct_expires is max((s32)(ct->timeout - (u32)jiffies), 0);
//   - ct.{orig,reply}.{saddr,daddr}{4,6}: the tuple's addresses (the
//     first 4 bytes of union nf_inet_addr for the "4" fields, the 16
//     bytes for the "6" fields), compared under the match's mask;
//   - ct.{orig,reply}.{sport,dport}: the tuple's port (u.all: for ICMP the
//     source is the echo id and the destination the type and code, 0 for
//     protocols without ports).

// Conntrack directions (enum ip_conntrack_dir), the values of ct.dir.
const (
	CtDirOriginal = 0
	CtDirReply    = 1
)

// Conntrack status bits (enum ip_conntrack_status) that iptables names.
const (
	CtStatusExpected  = 1 << 0
	CtStatusSeenReply = 1 << 1
	CtStatusAssured   = 1 << 2
	CtStatusConfirmed = 1 << 3
	CtStatusSrcNAT    = 1 << 4
	CtStatusDstNAT    = 1 << 5
)

var (
	ctDirNames    = []namedNum{{"ORIGINAL", CtDirOriginal}, {"REPLY", CtDirReply}}
	ctStatusNames = []namedNum{
		{"EXPECTED", CtStatusExpected}, {"SEEN_REPLY", CtStatusSeenReply},
		{"ASSURED", CtStatusAssured}, {"CONFIRMED", CtStatusConfirmed},
		{"SRC_NAT", CtStatusSrcNAT}, {"DST_NAT", CtStatusDstNAT},
	}
)

// CtTuple is one direction of a conntrack entry's tuple. Src and Dst are
// union nf_inet_addr (IPv4 in the first 4 bytes); the ports are u.all in
// host order.
type CtTuple struct {
	Src, Dst     [16]byte
	Sport, Dport uint16
}

// CtEntry is the conntrack entry a packet belongs to, as the conntrack
// entry fields see it (meaningful when Packet.NFCT has an entry).
type CtEntry struct {
	// Status is ct->status.
	Status uint32
	// Expire is the seconds left when the hook runs (nf_ct_expires / HZ).
	Expire uint32
	// Orig and Reply are tuplehash[IP_CT_DIR_ORIGINAL/REPLY].tuple.
	Orig, Reply CtTuple
}

// IsCtEntryField reports whether f reads the conntrack entry's tuple,
// status, timeout or the packet's direction (ct.proto included): the
// fields that hold for packets without an entry.
func IsCtEntryField(f Field) bool {
	switch f {
	case CtProto, CtDir, CtStatus, CtExpire, CtOrigSaddr4, CtOrigDaddr4, CtReplSaddr4, CtReplDaddr4,
		CtOrigSaddr6, CtOrigDaddr6, CtReplSaddr6, CtReplDaddr6, CtOrigSport, CtOrigDport, CtReplSport, CtReplDport:
		return true
	}
	return false
}

// ReadsConntrack reports whether f needs connection tracking (ct.state
// and the conntrack entry fields).
func ReadsConntrack(f Field) bool { return f == CtState || IsCtEntryField(f) }

// ctEntryHolds reports whether the match on a conntrack entry field holds
// regardless of its operand: the packet has no conntrack entry.
func ctEntryHolds(m *Match, p *Packet) bool {
	return p.Sock == nil && m.Op != OpIn && IsCtEntryField(m.Field) && p.NFCT&^NFCTInfoMask == 0
}

// ctEntryFieldValue extracts a conntrack entry field of a packet with an
// entry (ct.proto is netfilterFieldValue's).
func ctEntryFieldValue(f Field, p *Packet) ([]byte, bool) {
	if p.NFCT&^NFCTInfoMask == 0 {
		return nil, false
	}
	e := &p.Ct
	switch f {
	case CtDir:
		dir := uint64(CtDirOriginal)
		if p.NFCT&NFCTInfoMask >= ctIsReply {
			dir = CtDirReply
		}
		return []byte{byte(dir)}, true
	case CtStatus:
		return putUint(uint64(e.Status), 4), true
	case CtExpire:
		return putUint(uint64(e.Expire), 4), true
	case CtOrigSaddr4:
		return append([]byte(nil), e.Orig.Src[:4]...), true
	case CtOrigDaddr4:
		return append([]byte(nil), e.Orig.Dst[:4]...), true
	case CtReplSaddr4:
		return append([]byte(nil), e.Reply.Src[:4]...), true
	case CtReplDaddr4:
		return append([]byte(nil), e.Reply.Dst[:4]...), true
	case CtOrigSaddr6:
		return append([]byte(nil), e.Orig.Src[:]...), true
	case CtOrigDaddr6:
		return append([]byte(nil), e.Orig.Dst[:]...), true
	case CtReplSaddr6:
		return append([]byte(nil), e.Reply.Src[:]...), true
	case CtReplDaddr6:
		return append([]byte(nil), e.Reply.Dst[:]...), true
	case CtOrigSport:
		return putUint(uint64(e.Orig.Sport), 2), true
	case CtOrigDport:
		return putUint(uint64(e.Orig.Dport), 2), true
	case CtReplSport:
		return putUint(uint64(e.Reply.Sport), 2), true
	case CtReplDport:
		return putUint(uint64(e.Reply.Dport), 2), true
	}
	return nil, false
}

// parseCtEntryKind parses ct.dir and ct.status operands.
func parseCtEntryKind(k ValueKind, s string) ([]byte, []byte, error) {
	if k == KindCtDir {
		v, ok := lookupName(ctDirNames, strings.ToUpper(s))
		if !ok && s != "" && s[0] >= '0' && s[0] <= '9' {
			x, err := parseUint(s, 255, true)
			v, ok = x, err == nil
		}
		if !ok {
			return nil, nil, fmt.Errorf("unknown conntrack direction %q (use ORIGINAL or REPLY)", s)
		}
		return putUint(v, 1), nil, nil
	}
	var v uint64
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if strings.EqualFold(part, "NONE") {
			continue
		}
		n, ok := lookupName(ctStatusNames, strings.ToUpper(part))
		if !ok && strings.HasPrefix(part, "0x") {
			x, err := parseUint(part, 1<<32-1, true)
			n, ok = x, err == nil
		}
		if !ok {
			return nil, nil, fmt.Errorf("unknown conntrack status %q (use NONE, EXPECTED, SEEN_REPLY, ASSURED, CONFIRMED, SRC_NAT or DST_NAT)", part)
		}
		v |= n
	}
	return putUint(v, 4), nil, nil
}

// formatCtEntryKind prints ct.dir and ct.status operands as
// parseCtEntryKind reads them.
func formatCtEntryKind(k ValueKind, v uint64) string {
	if k == KindCtDir {
		if n, ok := nameOf(ctDirNames, v); ok {
			return n
		}
		return fmt.Sprintf("%d", v)
	}
	if v == 0 {
		return "NONE"
	}
	var parts []string
	for _, n := range ctStatusNames {
		if v&n.num != 0 {
			parts = append(parts, n.name)
			v &^= n.num
		}
	}
	if v != 0 {
		parts = append(parts, fmt.Sprintf("0x%x", v))
	}
	return strings.Join(parts, ",")
}
