package ir

import (
	"encoding/binary"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
)

// ValueKind is the operand type of a field: its width and its textual form.
type ValueKind uint8

// Value kinds.
const (
	KindNone ValueKind = iota
	// KindIfindex: interface index (u32); text is a decimal index or an
	// interface name resolved with ParseEnv.ResolveIface.
	KindIfindex
	// KindEtherType: u16 L3 protocol; "ipv4", "ipv6", "arp" or a number.
	KindEtherType
	// KindL4Proto: u8 IP protocol; a name from /etc/protocols' usual set or
	// a number.
	KindL4Proto
	// KindProbability: u32 in units of 1e-7 percent (100% = 1e9); text is
	// a percentage such as "33.3%".
	KindProbability
	// KindPort: u16 port, decimal.
	KindPort
	// KindU32: u32, decimal or 0x hexadecimal.
	KindU32
	// KindIPv4 / KindIPv4Prefix: 4-byte address, with a prefix mask.
	KindIPv4
	KindIPv4Prefix
	// KindIPv6 / KindIPv6Prefix: 16-byte address, with a prefix mask.
	KindIPv6
	KindIPv6Prefix
	// KindDSCP: 6-bit DSCP; a class name (ef, cs1, af21...) or a number.
	KindDSCP
	// KindNextHdr: u8; an IP protocol or IPv6 extension header name.
	KindNextHdr
	// KindTCPFlags: u8 flag bits; comma-separated flag names.
	KindTCPFlags
	// KindICMPType / KindICMPv6Type: u8; a type name or a number.
	KindICMPType
	KindICMPv6Type
	// KindU8: u8, decimal or 0x hexadecimal.
	KindU8
	// KindIfName: an interface name as IFNAMSIZ (16) bytes, NUL padded;
	// "eth0" matches the name exactly, "eth+" every name starting with
	// "eth" (the mask covers the compared bytes).
	KindIfName
	// KindCtState: u32 conntrack state bits (xt_conntrack's layout);
	// comma-separated INVALID, ESTABLISHED, RELATED, NEW, UNTRACKED.
	KindCtState
	// KindU16: u16, decimal or 0x hexadecimal.
	KindU16
	// KindAddrType: u16 address type bits (bit n is route type n, as in
	// xt_addrtype); comma-separated UNSPEC, UNICAST, LOCAL, ... (addrtype.go).
	KindAddrType
	// KindLimit: a token bucket (Limit: period and burst, 8 bytes);
	// "10/second,burst=5" (see limit.go).
	KindLimit
	// KindCtDir: u8 conntrack direction, ORIGINAL (0) or REPLY (1)
	// (ir/conntrack.go).
	KindCtDir
	// KindCtStatus: u32 conntrack status bits; comma-separated EXPECTED,
	// SEEN_REPLY, ASSURED, CONFIRMED, SRC_NAT, DST_NAT, or NONE
	// (ir/conntrack.go).
	KindCtStatus
	// KindMAC: a 6-byte Ethernet address, "aa:bb:cc:dd:ee:ff" (pktmatch.go).
	KindMAC
)

// ProbabilityScale is the value of 100% in a KindProbability operand.
const ProbabilityScale = 1_000_000_000

// Width is the byte width of the kind's values.
func (k ValueKind) Width() int {
	switch k {
	case KindEtherType, KindPort, KindU16, KindAddrType:
		return 2
	case KindIfindex, KindProbability, KindU32, KindIPv4, KindIPv4Prefix:
		return 4
	case KindIPv6, KindIPv6Prefix, KindIfName:
		return 16
	case KindCtState, KindCtStatus:
		return 4
	case KindLimit:
		return 8
	case KindMAC:
		return 6
	case KindNone:
		return 0
	}
	return 1
}

// IsPrefix reports whether values of the kind carry a prefix length.
func (k ValueKind) IsPrefix() bool { return k == KindIPv4Prefix || k == KindIPv6Prefix }

// ParseEnv is what parsing needs from the outside world.
type ParseEnv struct {
	// ResolveIface maps an interface name to its index in the client's
	// network namespace. Nil: names are refused.
	ResolveIface func(name string) (uint32, error)
}

// Named numeric constants, shared by parsing and printing.
var (
	etherTypes = []namedNum{{"ipv4", EthPIP}, {"ipv6", EthPIPv6}, {"arp", 0x0806}}
	ipProtos   = []namedNum{
		{"ip", 0}, {"icmp", 1}, {"igmp", 2}, {"ipip", 4}, {"tcp", 6}, {"egp", 8}, {"pup", 12},
		{"udp", 17}, {"idp", 22}, {"tp", 29}, {"dccp", 33}, {"ipv6", 41}, {"rsvp", 46},
		{"gre", 47}, {"esp", 50}, {"ah", 51}, {"icmpv6", 58}, {"mtp", 92}, {"beetph", 94},
		{"encap", 98}, {"pim", 103}, {"comp", 108}, {"l2tp", 115}, {"sctp", 132},
		{"udplite", 136}, {"mpls", 137}, {"ethernet", 143}, {"raw", 255},
	}
	ip6ExtHdrs = []namedNum{{"hop", 0}, {"route", 43}, {"frag", 44}, {"ah", 51}, {"dst", 60}, {"mh", 135}}
	dscpNames  = []namedNum{
		{"cs0", 0}, {"cs1", 8}, {"cs2", 16}, {"cs3", 24}, {"cs4", 32}, {"cs5", 40}, {"cs6", 48}, {"cs7", 56},
		{"af11", 10}, {"af12", 12}, {"af13", 14}, {"af21", 18}, {"af22", 20}, {"af23", 22},
		{"af31", 26}, {"af32", 28}, {"af33", 30}, {"af41", 34}, {"af42", 36}, {"af43", 38},
		{"ef", 46}, {"voice-admit", 44}, {"le", 1}, {"be", 0},
	}
	tcpFlagNames = []namedNum{{"fin", 0x01}, {"syn", 0x02}, {"rst", 0x04}, {"psh", 0x08}, {"ack", 0x10}, {"urg", 0x20}, {"ece", 0x40}, {"cwr", 0x80}}
	icmpTypes    = []namedNum{
		{"echo-reply", 0}, {"destination-unreachable", 3}, {"source-quench", 4}, {"redirect", 5},
		{"echo-request", 8}, {"router-advertisement", 9}, {"router-solicitation", 10},
		{"time-exceeded", 11}, {"parameter-problem", 12}, {"timestamp-request", 13},
		{"timestamp-reply", 14}, {"info-request", 15}, {"info-reply", 16},
		{"address-mask-request", 17}, {"address-mask-reply", 18},
	}
	icmpv6Types = []namedNum{
		{"destination-unreachable", 1}, {"packet-too-big", 2}, {"time-exceeded", 3},
		{"parameter-problem", 4}, {"echo-request", 128}, {"echo-reply", 129},
		{"mld-listener-query", 130}, {"mld-listener-report", 131}, {"mld-listener-reduction", 132},
		{"nd-router-solicit", 133}, {"nd-router-advert", 134}, {"nd-neighbor-solicit", 135},
		{"nd-neighbor-advert", 136}, {"nd-redirect", 137}, {"mld2-listener-report", 143},
	}
)

type namedNum struct {
	name string
	num  uint64
}

func lookupName(tab []namedNum, s string) (uint64, bool) {
	for _, n := range tab {
		if strings.EqualFold(n.name, s) {
			return n.num, true
		}
	}
	return 0, false
}

func nameOf(tab []namedNum, v uint64) (string, bool) {
	for _, n := range tab {
		if n.num == v {
			return n.name, true
		}
	}
	return "", false
}

// parseUint parses a decimal or (when hex) 0x-prefixed unsigned number no
// larger than max.
func parseUint(s string, max uint64, hex bool) (uint64, error) {
	if s == "" {
		return 0, fmt.Errorf("empty number")
	}
	var v uint64
	var err error
	if hex && (strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X")) {
		if len(s) == 2 {
			return 0, fmt.Errorf("invalid number %q", s)
		}
		v, err = strconv.ParseUint(s[2:], 16, 64)
	} else {
		for _, c := range s {
			if c < '0' || c > '9' {
				return 0, fmt.Errorf("invalid number %q", s)
			}
		}
		v, err = strconv.ParseUint(s, 10, 64)
	}
	if err != nil {
		return 0, fmt.Errorf("invalid number %q", s)
	}
	if v > max {
		return 0, fmt.Errorf("%s is out of range (maximum %d)", s, max)
	}
	return v, nil
}

func putUint(v uint64, width int) []byte {
	b := make([]byte, width)
	switch width {
	case 1:
		b[0] = byte(v)
	case 2:
		binary.BigEndian.PutUint16(b, uint16(v))
	case 4:
		binary.BigEndian.PutUint32(b, uint32(v))
	}
	return b
}

// Uint returns a big-endian value of up to 8 bytes as an integer.
func Uint(b []byte) uint64 {
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v
}

// UintValue encodes v as a big-endian value of the kind's width.
func (k ValueKind) UintValue(v uint64) []byte { return putUint(v, k.Width()) }

// PrefixMask returns the mask of a prefix of bits ones over width bytes.
func PrefixMask(bits, width int) []byte {
	m := make([]byte, width)
	for i := 0; i < width; i++ {
		switch {
		case bits >= 8:
			m[i] = 0xff
			bits -= 8
		case bits > 0:
			m[i] = byte(0xff << (8 - bits))
			bits = 0
		}
	}
	return m
}

// PrefixLen returns the number of leading ones of mask, or -1 when the mask
// is not a prefix.
func PrefixLen(mask []byte) int {
	n, done := 0, false
	for _, b := range mask {
		for i := 7; i >= 0; i-- {
			if b&(1<<i) != 0 {
				if done {
					return -1
				}
				n++
			} else {
				done = true
			}
		}
	}
	return n
}

// Parse parses an operand of the kind. It returns the value and, for prefix
// kinds, the mask; the value is already masked.
func (k ValueKind) Parse(s string, env ParseEnv) (value, mask []byte, err error) {
	switch k {
	case KindIfName:
		return parseIfName(s)
	case KindMAC:
		return parseMAC(s)
	case KindU16:
		v, err := parseUint(s, math.MaxUint16, true)
		if err != nil {
			return nil, nil, err
		}
		return putUint(v, 2), nil, nil
	case KindCtState:
		return parseCtState(s)
	case KindAddrType:
		return parseAddrTypes(s)
	case KindLimit:
		v, err := parseLimit(s)
		return v, nil, err
	case KindCtDir, KindCtStatus:
		return parseCtEntryKind(k, s)
	case KindIfindex:
		if s != "" && s[0] >= '0' && s[0] <= '9' {
			v, err := parseUint(s, math.MaxUint32-1, false)
			if err != nil {
				return nil, nil, fmt.Errorf("invalid interface index: %w", err)
			}
			if v == 0 {
				return nil, nil, fmt.Errorf("invalid interface index 0")
			}
			return putUint(v, 4), nil, nil
		}
		if len(s) == 0 || len(s) >= 16 {
			return nil, nil, fmt.Errorf("invalid interface name %q", s)
		}
		if env.ResolveIface == nil {
			return nil, nil, fmt.Errorf("cannot resolve interface name %q here", s)
		}
		idx, err := env.ResolveIface(s)
		if err != nil {
			return nil, nil, fmt.Errorf("unknown interface %q: %w", s, err)
		}
		return putUint(uint64(idx), 4), nil, nil
	case KindEtherType:
		if v, ok := lookupName(etherTypes, s); ok {
			return putUint(v, 2), nil, nil
		}
		v, err := parseUint(s, math.MaxUint16, true)
		if err != nil {
			return nil, nil, fmt.Errorf("invalid L3 protocol %q (expected ipv4, ipv6 or a number)", s)
		}
		return putUint(v, 2), nil, nil
	case KindL4Proto, KindNextHdr:
		if v, ok := lookupName(ipProtos, s); ok {
			return putUint(v, 1), nil, nil
		}
		if k == KindNextHdr {
			if v, ok := lookupName(ip6ExtHdrs, s); ok {
				return putUint(v, 1), nil, nil
			}
		}
		v, err := parseUint(s, 255, true)
		if err != nil {
			return nil, nil, fmt.Errorf("invalid protocol %q", s)
		}
		return putUint(v, 1), nil, nil
	case KindProbability:
		if !strings.HasSuffix(s, "%") {
			return nil, nil, fmt.Errorf("invalid probability %q (expected a percentage such as 50%%)", s)
		}
		num := strings.TrimSuffix(s, "%")
		if num == "" || strings.ContainsAny(num, "eEinfINFxX+-_") {
			return nil, nil, fmt.Errorf("invalid probability %q", s)
		}
		f, err := strconv.ParseFloat(num, 64)
		if err != nil || f < 0 || f > 100 || math.IsNaN(f) {
			return nil, nil, fmt.Errorf("invalid probability %q (must be between 0%% and 100%%)", s)
		}
		return putUint(uint64(math.Round(f*ProbabilityScale/100)), 4), nil, nil
	case KindPort:
		v, err := parseUint(s, math.MaxUint16, false)
		if err != nil {
			return nil, nil, fmt.Errorf("invalid port: %w", err)
		}
		return putUint(v, 2), nil, nil
	case KindU32:
		v, err := parseUint(s, math.MaxUint32, true)
		if err != nil {
			return nil, nil, err
		}
		return putUint(v, 4), nil, nil
	case KindU8:
		v, err := parseUint(s, 255, true)
		if err != nil {
			return nil, nil, err
		}
		return putUint(v, 1), nil, nil
	case KindIPv4, KindIPv6:
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" || (k == KindIPv4) != a.Is4() {
			return nil, nil, fmt.Errorf("invalid %s address %q", k.family(), s)
		}
		if k == KindIPv6 && strings.Contains(s, ".") {
			return nil, nil, fmt.Errorf("invalid IPv6 address %q (embedded IPv4 notation is not supported)", s)
		}
		return a.AsSlice(), nil, nil
	case KindIPv4Prefix, KindIPv6Prefix:
		addr, bitsStr, ok := strings.Cut(s, "/")
		if !ok {
			return nil, nil, fmt.Errorf("invalid %s network %q (expected ADDR/LEN)", k.family(), s)
		}
		ak := KindIPv4
		maxBits := 32
		if k == KindIPv6Prefix {
			ak, maxBits = KindIPv6, 128
		}
		a, _, err := ak.Parse(addr, env)
		if err != nil {
			return nil, nil, fmt.Errorf("invalid %s network %q", k.family(), s)
		}
		bits, err := parseUint(bitsStr, uint64(maxBits), false)
		if err != nil {
			return nil, nil, fmt.Errorf("invalid prefix length in %q: %w", s, err)
		}
		m := PrefixMask(int(bits), len(a))
		for i := range a {
			a[i] &= m[i]
		}
		return a, m, nil
	case KindDSCP:
		if v, ok := lookupName(dscpNames, s); ok {
			return putUint(v, 1), nil, nil
		}
		v, err := parseUint(s, 63, true)
		if err != nil {
			return nil, nil, fmt.Errorf("invalid DSCP %q (expected a class name or 0-63)", s)
		}
		return putUint(v, 1), nil, nil
	case KindTCPFlags:
		var v uint64
		for _, part := range strings.Split(s, ",") {
			f, ok := lookupName(tcpFlagNames, part)
			if !ok {
				return nil, nil, fmt.Errorf("invalid TCP flag %q", part)
			}
			v |= f
		}
		return putUint(v, 1), nil, nil
	case KindICMPType, KindICMPv6Type:
		tab := icmpTypes
		if k == KindICMPv6Type {
			tab = icmpv6Types
		}
		if v, ok := lookupName(tab, s); ok {
			return putUint(v, 1), nil, nil
		}
		v, err := parseUint(s, 255, true)
		if err != nil {
			return nil, nil, fmt.Errorf("invalid ICMP type %q", s)
		}
		return putUint(v, 1), nil, nil
	}
	return nil, nil, fmt.Errorf("value kind %d cannot be parsed", k)
}

// formatAddr prints an address as Parse accepts it back: IPv4-mapped IPv6
// addresses are printed in full hexadecimal form, because Parse refuses
// the dotted notation that netip would use.
func formatAddr(value []byte) string {
	a, _ := netip.AddrFromSlice(value)
	if a.Is4In6() {
		return a.StringExpanded()
	}
	return a.String()
}

func (k ValueKind) family() string {
	if k == KindIPv6 || k == KindIPv6Prefix {
		return "IPv6"
	}
	return "IPv4"
}

// Format prints a value (and mask, for prefix kinds) in the canonical form
// that Parse accepts back.
func (k ValueKind) Format(value, mask []byte) string {
	if len(value) != k.Width() {
		return fmt.Sprintf("<bad value % x>", value)
	}
	switch k {
	case KindIfName:
		return formatIfName(value, mask)
	case KindCtState:
		return formatCtState(Uint(value))
	case KindAddrType:
		return formatAddrTypes(Uint(value))
	case KindLimit:
		return formatLimit(value)
	case KindCtDir, KindCtStatus:
		return formatCtEntryKind(k, Uint(value))
	case KindMAC:
		return formatMAC(value)
	}
	v := Uint(value)
	switch k {
	case KindIfindex, KindPort, KindU16:
		return strconv.FormatUint(v, 10)
	case KindEtherType:
		if n, ok := nameOf(etherTypes, v); ok {
			return n
		}
		return fmt.Sprintf("0x%04x", v)
	case KindL4Proto, KindNextHdr:
		if k == KindNextHdr {
			// Extension header names first: next header 0 is "hop".
			if n, ok := nameOf(ip6ExtHdrs, v); ok {
				return n
			}
		}
		if n, ok := nameOf(ipProtos, v); ok {
			return n
		}
		return strconv.FormatUint(v, 10)
	case KindProbability:
		return strconv.FormatFloat(float64(v)*100/ProbabilityScale, 'f', -1, 64) + "%"
	case KindU32:
		return fmt.Sprintf("0x%x", v)
	case KindU8:
		return strconv.FormatUint(v, 10)
	case KindIPv4, KindIPv6:
		return formatAddr(value)
	case KindIPv4Prefix, KindIPv6Prefix:
		bits := len(value) * 8
		if mask != nil {
			bits = PrefixLen(mask)
		}
		return fmt.Sprintf("%s/%d", formatAddr(value), bits)
	case KindDSCP:
		if n, ok := nameOf(dscpNames, v); ok {
			return n
		}
		return strconv.FormatUint(v, 10)
	case KindTCPFlags:
		var parts []string
		for _, f := range tcpFlagNames {
			if v&f.num != 0 {
				parts = append(parts, f.name)
			}
		}
		if len(parts) == 0 {
			return "0"
		}
		return strings.Join(parts, ",")
	case KindICMPType, KindICMPv6Type:
		tab := icmpTypes
		if k == KindICMPv6Type {
			tab = icmpv6Types
		}
		if n, ok := nameOf(tab, v); ok {
			return n
		}
		return strconv.FormatUint(v, 10)
	}
	return fmt.Sprintf("% x", value)
}

// String prints the match in bfcli syntax, e.g. "ip4.saddr not eq 1.2.3.4"
// or "(ip4.saddr) in blocklist".
func (m Match) String() string {
	var b strings.Builder
	if m.Op == OpIn {
		b.WriteString("(" + m.Field.String() + ")")
	} else {
		b.WriteString(m.Field.String())
	}
	if m.Negate {
		b.WriteString(" not")
	}
	b.WriteString(" " + m.Op.String() + " ")
	k := m.Field.Info().Kind
	switch m.Op {
	case OpIn:
		b.WriteString(m.Set)
	case OpRange:
		b.WriteString(k.Format(m.Value, nil) + "-" + k.Format(m.High, nil))
	case OpRanges:
		b.WriteString(formatRanges(m))
	default:
		b.WriteString(k.Format(m.Value, m.Mask))
		if m.Mask != nil && !k.IsPrefix() {
			// The bfcli spelling of a mask on a non-prefix kind (as
			// frontends/cli prints it), e.g. a --ctorigsrc network.
			b.WriteString("/mask:" + k.Format(m.Mask, nil))
		}
	}
	return b.String()
}
