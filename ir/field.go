package ir

import "fmt"

// Layer is the header a field is read from.
type Layer uint8

// Layers.
const (
	// LayerMeta fields come from packet metadata or are computed.
	LayerMeta Layer = iota
	// LayerL3 fields are read from the IPv4 or IPv6 header.
	LayerL3
	// LayerL4 fields are read from the transport header.
	LayerL4
)

// Field names a packet field a match can compare. Fields index the field
// table; see FieldInfo.
type Field uint16

// The fields. The order is part of the serialised format: append only.
const (
	FieldInvalid Field = iota
	MetaIface
	MetaL3Proto
	MetaL4Proto
	MetaProbability
	MetaSport
	MetaDport
	MetaMark
	MetaFlowHash
	MetaFlowProbability
	IP4Saddr
	IP4Daddr
	IP4Snet
	IP4Dnet
	IP4Proto
	IP4DSCP
	IP6Saddr
	IP6Daddr
	IP6Snet
	IP6Dnet
	IP6Nexthdr
	IP6DSCP
	TCPSport
	TCPDport
	TCPFlags
	UDPSport
	UDPDport
	ICMPType
	ICMPCode
	ICMPv6Type
	ICMPv6Code
	// Fields added for the iptables frontend (netfilter hooks only).
	MetaIifName
	MetaOifName
	CtState
	IP4Len
	IP6PayloadLen
	IP4TTL
	IP6HopLimit
	IP4FragOff
	CtProto
	// Address type fields (iptables -m addrtype, netfilter hooks only; see
	// addrtype.go): the type of the source or destination address, without
	// an interface limit, limited to the input device, limited to the
	// output device.
	AddrSType
	AddrDType
	AddrSTypeIif
	AddrDTypeIif
	AddrSTypeOif
	AddrDTypeOif
	// meta.limit (iptables -m limit): a token bucket, see limit.go.
	MetaLimit
	// Conntrack entry fields of the iptables conntrack match (netfilter
	// hooks only; ir/conntrack.go). Like ct.proto they hold for packets
	// without a conntrack entry.
	CtDir
	CtStatus
	CtExpire
	CtOrigSaddr4
	CtOrigDaddr4
	CtReplSaddr4
	CtReplDaddr4
	CtOrigSaddr6
	CtOrigDaddr6
	CtReplSaddr6
	CtReplDaddr6
	CtOrigSport
	CtOrigDport
	CtReplSport
	CtReplDport
	// Fields added for the iptables packet matches pkttype, mac,
	// --tcp-option and multiport --ports (see pktmatch.go).
	MetaPktType
	MetaMACSaddr
	TCPOption
	TCPPort
	UDPPort
	// xt.l4: the transport-header checks of an iptables xt match (tcp,
	// udp, icmp, icmp6, multiport) at its position in the rule, with the
	// kernel's hotdrop on truncated headers (ir/xtl4.go). iptables-only:
	// not a bfcli matcher (IptablesOnly).
	XTL4
	numFields
)

// EtherType values used as L3 guards.
const (
	EthPIP   = 0x0800
	EthPIPv6 = 0x86DD
)

// IP protocol numbers used as L4 guards.
const (
	ProtoICMP   = 1
	ProtoTCP    = 6
	ProtoUDP    = 17
	ProtoICMPv6 = 58
)

// Load says how the backend and the evaluator read a header field: Size
// bytes (1, 2 or 4, big-endian) at Offset from the start of the field's
// layer, then shifted right by Shift and ANDed with Mask (Mask 0: no mask).
// Fields of 16 bytes (IPv6 addresses) are read as bytes.
type Load struct {
	Offset int
	Size   int
	Shift  uint8
	Mask   uint32
}

// FieldInfo is the field table entry: everything the frontends, the
// validator, the evaluator and the backend need to know about a field.
type FieldInfo struct {
	// Name is the bfcli matcher name, e.g. "ip4.saddr".
	Name string
	// Kind is the operand type: how values are parsed and printed.
	Kind ValueKind
	// Layer is the header the field is read from.
	Layer Layer
	// L3 is the EtherType the packet must have (0: any).
	L3 uint16
	// L4 lists the IP protocols the packet must carry (nil: any).
	L4 []uint8
	// Load reads header fields (Layer L3 or L4).
	Load Load
	// Ops are the operators the field accepts (OpIn is implied when
	// InSet is true).
	Ops []Op
	// InSet reports whether the field can be a set key component.
	InSet bool
	// hooks decides on which hooks the field is valid.
	hooks func(Hook) bool
	// Compound marks fields whose match is not one compare of a loaded
	// value (either-port matches, option walks, kernel struct reads):
	// the optimiser's lookups and the backend's branch-free combiner
	// leave them alone (see pktmatch.go).
	Compound bool
	// IptablesOnly marks fields only the iptables frontend produces:
	// Fields and LookupField leave them out, so the bfcli parser does
	// not know them (ir/xtl4.go).
	IptablesOnly bool
}

func allPacketHooks(h Hook) bool { return !h.IsSockAddr() }

// sockAddrAny: valid on every packet hook and on the sock_addr hooks of the
// right family.
func sockAddr(fam int, sendmsgOnly, connectOnly bool) func(Hook) bool {
	return func(h Hook) bool {
		if !h.IsSockAddr() {
			return true
		}
		if fam != 0 && h.SockAddrFamily() != fam {
			return false
		}
		if sendmsgOnly && !h.IsSendmsg() {
			return false
		}
		if connectOnly && h.IsSendmsg() {
			return false
		}
		return true
	}
}

var (
	eqOnly  = []Op{OpEq}
	eqRange = []Op{OpEq, OpRange, OpRanges}
	// eqAddrRange: IPv4 and IPv6 addresses take OpRanges too (iptables iprange);
	// bfcli's range operator stays refused on them, as upstream does.
	eqAddrRange = []Op{OpEq, OpRanges}
	l4TCPUDP    = []uint8{ProtoTCP, ProtoUDP}
	fieldTable  = [numFields]FieldInfo{
		FieldInvalid: {Name: "<invalid>", hooks: func(Hook) bool { return false }},
		MetaIface:    {Name: "meta.iface", Kind: KindIfindex, Layer: LayerMeta, Ops: eqOnly, InSet: true, hooks: allPacketHooks},
		MetaL3Proto:  {Name: "meta.l3_proto", Kind: KindEtherType, Layer: LayerMeta, Ops: eqOnly, InSet: true, hooks: sockAddr(0, false, false)},
		MetaL4Proto:  {Name: "meta.l4_proto", Kind: KindL4Proto, Layer: LayerMeta, Ops: eqOnly, InSet: true, hooks: sockAddr(0, false, false)},
		MetaProbability: {Name: "meta.probability", Kind: KindProbability, Layer: LayerMeta, Ops: eqOnly,
			hooks: sockAddr(0, false, false)},
		MetaSport: {Name: "meta.sport", Kind: KindPort, Layer: LayerMeta, L4: l4TCPUDP, Ops: eqRange, hooks: allPacketHooks},
		MetaDport: {Name: "meta.dport", Kind: KindPort, Layer: LayerMeta, L4: l4TCPUDP, Ops: eqRange, hooks: sockAddr(0, false, false)},
		MetaMark: {Name: "meta.mark", Kind: KindU32, Layer: LayerMeta, Ops: eqOnly, InSet: true,
			hooks: func(h Hook) bool { return h != HookXDP && !h.IsSockAddr() }},
		MetaFlowHash: {Name: "meta.flow_hash", Kind: KindU32, Layer: LayerMeta, Ops: eqRange,
			hooks: func(h Hook) bool { return h.Flavour() == FlavourTC }},
		MetaFlowProbability: {Name: "meta.flow_probability", Kind: KindProbability, Layer: LayerMeta, Ops: eqOnly,
			hooks: func(h Hook) bool {
				f := h.Flavour()
				return f == FlavourXDP || f == FlavourTC || f == FlavourCgroupSkb
			}},
		IP4Saddr: {Name: "ip4.saddr", Kind: KindIPv4, Layer: LayerL3, L3: EthPIP, Load: Load{Offset: 12, Size: 4}, Ops: eqAddrRange, InSet: true, hooks: sockAddr(4, true, false)},
		IP4Daddr: {Name: "ip4.daddr", Kind: KindIPv4, Layer: LayerL3, L3: EthPIP, Load: Load{Offset: 16, Size: 4}, Ops: eqAddrRange, InSet: true, hooks: sockAddr(4, false, false)},
		IP4Snet:  {Name: "ip4.snet", Kind: KindIPv4Prefix, Layer: LayerL3, L3: EthPIP, Load: Load{Offset: 12, Size: 4}, Ops: eqOnly, InSet: true, hooks: sockAddr(4, true, false)},
		IP4Dnet:  {Name: "ip4.dnet", Kind: KindIPv4Prefix, Layer: LayerL3, L3: EthPIP, Load: Load{Offset: 16, Size: 4}, Ops: eqOnly, InSet: true, hooks: sockAddr(4, false, false)},
		IP4Proto: {Name: "ip4.proto", Kind: KindL4Proto, Layer: LayerL3, L3: EthPIP, Load: Load{Offset: 9, Size: 1}, Ops: eqOnly, InSet: true, hooks: sockAddr(4, false, false)},
		IP4DSCP:  {Name: "ip4.dscp", Kind: KindDSCP, Layer: LayerL3, L3: EthPIP, Load: Load{Offset: 1, Size: 1, Shift: 2, Mask: 0x3f}, Ops: eqOnly, InSet: true, hooks: allPacketHooks},
		IP6Saddr: {Name: "ip6.saddr", Kind: KindIPv6, Layer: LayerL3, L3: EthPIPv6, Load: Load{Offset: 8, Size: 16}, Ops: eqAddrRange, InSet: true, hooks: sockAddr(6, true, false)},
		IP6Daddr: {Name: "ip6.daddr", Kind: KindIPv6, Layer: LayerL3, L3: EthPIPv6, Load: Load{Offset: 24, Size: 16}, Ops: eqAddrRange, InSet: true, hooks: sockAddr(6, false, false)},
		IP6Snet:  {Name: "ip6.snet", Kind: KindIPv6Prefix, Layer: LayerL3, L3: EthPIPv6, Load: Load{Offset: 8, Size: 16}, Ops: eqOnly, InSet: true, hooks: sockAddr(6, true, false)},
		IP6Dnet:  {Name: "ip6.dnet", Kind: KindIPv6Prefix, Layer: LayerL3, L3: EthPIPv6, Load: Load{Offset: 24, Size: 16}, Ops: eqOnly, InSet: true, hooks: sockAddr(6, false, false)},
		IP6Nexthdr: {Name: "ip6.nexthdr", Kind: KindNextHdr, Layer: LayerL3, L3: EthPIPv6, Load: Load{Offset: 6, Size: 1}, Ops: eqOnly, InSet: true,
			hooks: allPacketHooks},
		IP6DSCP:       {Name: "ip6.dscp", Kind: KindDSCP, Layer: LayerL3, L3: EthPIPv6, Load: Load{Offset: 0, Size: 2, Shift: 6, Mask: 0x3f}, Ops: eqOnly, InSet: true, hooks: allPacketHooks},
		TCPSport:      {Name: "tcp.sport", Kind: KindPort, Layer: LayerL4, L4: []uint8{ProtoTCP}, Load: Load{Offset: 0, Size: 2}, Ops: eqRange, InSet: true, hooks: allPacketHooks},
		TCPDport:      {Name: "tcp.dport", Kind: KindPort, Layer: LayerL4, L4: []uint8{ProtoTCP}, Load: Load{Offset: 2, Size: 2}, Ops: eqRange, InSet: true, hooks: sockAddr(0, false, true)},
		TCPFlags:      {Name: "tcp.flags", Kind: KindTCPFlags, Layer: LayerL4, L4: []uint8{ProtoTCP}, Load: Load{Offset: 13, Size: 1}, Ops: []Op{OpEq, OpAny, OpAll}, hooks: allPacketHooks},
		UDPSport:      {Name: "udp.sport", Kind: KindPort, Layer: LayerL4, L4: []uint8{ProtoUDP}, Load: Load{Offset: 0, Size: 2}, Ops: eqRange, InSet: true, hooks: allPacketHooks},
		UDPDport:      {Name: "udp.dport", Kind: KindPort, Layer: LayerL4, L4: []uint8{ProtoUDP}, Load: Load{Offset: 2, Size: 2}, Ops: eqRange, InSet: true, hooks: sockAddr(0, false, false)},
		ICMPType:      {Name: "icmp.type", Kind: KindICMPType, Layer: LayerL4, L4: []uint8{ProtoICMP}, Load: Load{Offset: 0, Size: 1}, Ops: eqOnly, InSet: true, hooks: allPacketHooks},
		ICMPCode:      {Name: "icmp.code", Kind: KindU8, Layer: LayerL4, L4: []uint8{ProtoICMP}, Load: Load{Offset: 1, Size: 1}, Ops: eqOnly, InSet: true, hooks: allPacketHooks},
		ICMPv6Type:    {Name: "icmpv6.type", Kind: KindICMPv6Type, Layer: LayerL4, L4: []uint8{ProtoICMPv6}, Load: Load{Offset: 0, Size: 1}, Ops: eqOnly, InSet: true, hooks: allPacketHooks},
		ICMPv6Code:    {Name: "icmpv6.code", Kind: KindU8, Layer: LayerL4, L4: []uint8{ProtoICMPv6}, Load: Load{Offset: 1, Size: 1}, Ops: eqOnly, InSet: true, hooks: allPacketHooks},
		IP4Len:        {Name: "ip4.len", Kind: KindU16, Layer: LayerL3, L3: EthPIP, Load: Load{Offset: 2, Size: 2}, Ops: eqRange, hooks: allPacketHooks},
		IP6PayloadLen: {Name: "ip6.plen", Kind: KindU16, Layer: LayerL3, L3: EthPIPv6, Load: Load{Offset: 4, Size: 2}, Ops: eqRange, hooks: allPacketHooks},
		IP4TTL:        {Name: "ip4.ttl", Kind: KindU8, Layer: LayerL3, L3: EthPIP, Load: Load{Offset: 8, Size: 1}, Ops: eqRange, hooks: allPacketHooks},
		IP6HopLimit:   {Name: "ip6.hoplimit", Kind: KindU8, Layer: LayerL3, L3: EthPIPv6, Load: Load{Offset: 7, Size: 1}, Ops: eqRange, hooks: allPacketHooks},
		IP4FragOff:    {Name: "ip4.fragoff", Kind: KindU16, Layer: LayerL3, L3: EthPIP, Load: Load{Offset: 6, Size: 2, Mask: 0x1fff}, Ops: eqOnly, hooks: allPacketHooks},
		CtProto:       {Name: "ct.proto", Kind: KindL4Proto, Layer: LayerMeta, Ops: eqOnly, hooks: netfilterOnly},
		MetaIifName:   {Name: "meta.iifname", Kind: KindIfName, Layer: LayerMeta, Ops: eqOnly, hooks: netfilterOnly},
		MetaOifName:   {Name: "meta.oifname", Kind: KindIfName, Layer: LayerMeta, Ops: eqOnly, hooks: netfilterOnly},
		CtState:       {Name: "ct.state", Kind: KindCtState, Layer: LayerMeta, Ops: []Op{OpEq, OpAny}, hooks: netfilterOnly},
		// Address type fields (addrtype.go).
		AddrSType:    {Name: "addr.stype", Kind: KindAddrType, Layer: LayerMeta, Ops: addrTypeOps, hooks: netfilterOnly},
		AddrDType:    {Name: "addr.dtype", Kind: KindAddrType, Layer: LayerMeta, Ops: addrTypeOps, hooks: netfilterOnly},
		AddrSTypeIif: {Name: "addr.stype_iif", Kind: KindAddrType, Layer: LayerMeta, Ops: addrTypeOps, hooks: netfilterOnly},
		AddrDTypeIif: {Name: "addr.dtype_iif", Kind: KindAddrType, Layer: LayerMeta, Ops: addrTypeOps, hooks: netfilterOnly},
		AddrSTypeOif: {Name: "addr.stype_oif", Kind: KindAddrType, Layer: LayerMeta, Ops: addrTypeOps, hooks: netfilterOnly},
		AddrDTypeOif: {Name: "addr.dtype_oif", Kind: KindAddrType, Layer: LayerMeta, Ops: addrTypeOps, hooks: netfilterOnly},
		// Token bucket (iptables -m limit), stateful: see limit.go.
		MetaLimit: {Name: "meta.limit", Kind: KindLimit, Layer: LayerMeta, Ops: eqOnly, hooks: netfilterOnly},
		// Conntrack entry fields (ir/conntrack.go).
		CtDir:        {Name: "ct.dir", Kind: KindCtDir, Layer: LayerMeta, Ops: eqOnly, hooks: netfilterOnly},
		CtStatus:     {Name: "ct.status", Kind: KindCtStatus, Layer: LayerMeta, Ops: []Op{OpAny}, hooks: netfilterOnly},
		CtExpire:     {Name: "ct.expire", Kind: KindU32, Layer: LayerMeta, Ops: eqRange, hooks: netfilterOnly},
		CtOrigSaddr4: {Name: "ct.orig.saddr4", Kind: KindIPv4, Layer: LayerMeta, Ops: eqOnly, hooks: netfilterOnly},
		CtOrigDaddr4: {Name: "ct.orig.daddr4", Kind: KindIPv4, Layer: LayerMeta, Ops: eqOnly, hooks: netfilterOnly},
		CtReplSaddr4: {Name: "ct.reply.saddr4", Kind: KindIPv4, Layer: LayerMeta, Ops: eqOnly, hooks: netfilterOnly},
		CtReplDaddr4: {Name: "ct.reply.daddr4", Kind: KindIPv4, Layer: LayerMeta, Ops: eqOnly, hooks: netfilterOnly},
		CtOrigSaddr6: {Name: "ct.orig.saddr6", Kind: KindIPv6, Layer: LayerMeta, Ops: eqOnly, hooks: netfilterOnly},
		CtOrigDaddr6: {Name: "ct.orig.daddr6", Kind: KindIPv6, Layer: LayerMeta, Ops: eqOnly, hooks: netfilterOnly},
		CtReplSaddr6: {Name: "ct.reply.saddr6", Kind: KindIPv6, Layer: LayerMeta, Ops: eqOnly, hooks: netfilterOnly},
		CtReplDaddr6: {Name: "ct.reply.daddr6", Kind: KindIPv6, Layer: LayerMeta, Ops: eqOnly, hooks: netfilterOnly},
		CtOrigSport:  {Name: "ct.orig.sport", Kind: KindPort, Layer: LayerMeta, Ops: eqRange, hooks: netfilterOnly},
		CtOrigDport:  {Name: "ct.orig.dport", Kind: KindPort, Layer: LayerMeta, Ops: eqRange, hooks: netfilterOnly},
		CtReplSport:  {Name: "ct.reply.sport", Kind: KindPort, Layer: LayerMeta, Ops: eqRange, hooks: netfilterOnly},
		CtReplDport:  {Name: "ct.reply.dport", Kind: KindPort, Layer: LayerMeta, Ops: eqRange, hooks: netfilterOnly},
		// iptables packet matches (pktmatch.go).
		MetaPktType:  {Name: "meta.pkttype", Kind: KindU8, Layer: LayerMeta, Ops: eqOnly, Compound: true, hooks: pktTypeHooks},
		MetaMACSaddr: {Name: "eth.saddr", Kind: KindMAC, Layer: LayerMeta, Ops: eqOnly, Compound: true, hooks: macHooks},
		TCPOption:    {Name: "tcp.option", Kind: KindU8, Layer: LayerL4, L4: []uint8{ProtoTCP}, Ops: eqOnly, Compound: true, hooks: allPacketHooks},
		TCPPort:      {Name: "tcp.port", Kind: KindPort, Layer: LayerL4, L4: []uint8{ProtoTCP}, Ops: eqRange, Compound: true, hooks: allPacketHooks},
		UDPPort:      {Name: "udp.port", Kind: KindPort, Layer: LayerL4, L4: []uint8{ProtoUDP}, Ops: eqRange, Compound: true, hooks: allPacketHooks},
		// iptables xt match transport checks (ir/xtl4.go).
		XTL4: {Name: "xt.l4", Kind: KindU8, Layer: LayerMeta, Ops: eqOnly, Compound: true, IptablesOnly: true, hooks: netfilterOnly},
	}
	fieldByName = func() map[string]Field {
		m := make(map[string]Field, numFields)
		for i := Field(1); i < numFields; i++ {
			if fieldTable[i].IptablesOnly { // not bfcli matchers
				continue
			}
			m[fieldTable[i].Name] = i
		}
		return m
	}()
)

// Fields returns every valid field of the bfcli language, in table order
// (IptablesOnly fields such as xt.l4 are left out).
func Fields() []Field {
	out := make([]Field, 0, numFields-1)
	for i := Field(1); i < numFields; i++ {
		if fieldTable[i].IptablesOnly {
			continue
		}
		out = append(out, i)
	}
	return out
}

// LookupField returns the field with the given bfcli name.
func LookupField(name string) (Field, bool) {
	f, ok := fieldByName[name]
	return f, ok
}

// Valid reports whether f is a known field.
func (f Field) Valid() bool { return f > FieldInvalid && f < numFields }

// Info returns the field's table entry. Invalid fields get the entry of
// FieldInvalid.
func (f Field) Info() *FieldInfo {
	if !f.Valid() {
		return &fieldTable[FieldInvalid]
	}
	return &fieldTable[f]
}

// String returns the field's bfcli name.
func (f Field) String() string {
	if !f.Valid() {
		return fmt.Sprintf("field(%d)", uint16(f))
	}
	return fieldTable[f].Name
}

// Width is the byte width of the field's values.
func (f Field) Width() int { return f.Info().Kind.Width() }

// ValidOn reports whether the field can be matched on hook h.
func (f Field) ValidOn(h Hook) bool { return f.Valid() && h.Valid() && f.Info().hooks(h) }

// SupportsOp reports whether the field accepts operator op.
func (f Field) SupportsOp(op Op) bool {
	fi := f.Info()
	if op == OpIn {
		return fi.InSet
	}
	for _, o := range fi.Ops {
		if o == op {
			return true
		}
	}
	return false
}
