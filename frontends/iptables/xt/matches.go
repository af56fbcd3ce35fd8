package xt

// MultiPorts is XT_MULTI_PORTS.
const MultiPorts = 15

// Multiport flags (enum xt_multiport_flags).
const (
	MultiportSource      = 0
	MultiportDestination = 1
	MultiportEither      = 2
)

// Multiport is struct xt_multiport_v1 (match "multiport", revision 1).
// PFlags[i] set means Ports[i]..Ports[i+1] is a range.
type Multiport struct {
	Flags  uint8
	Count  uint8
	Ports  [MultiPorts]uint16
	PFlags [MultiPorts]uint8
	Invert uint8
}

// Marshal encodes struct xt_multiport_v1 (48 bytes).
func (m *Multiport) Marshal() []byte {
	b := make([]byte, 48)
	b[0], b[1] = m.Flags, m.Count
	for i, p := range m.Ports {
		ne.PutUint16(b[2+2*i:], p)
	}
	copy(b[32:47], m.PFlags[:])
	b[47] = m.Invert
	return b
}

// IPRange is struct xt_iprange_mtinfo (match "iprange", revision 1).
// Addresses are in network order; IPv4 uses the first 4 bytes.
type IPRange struct {
	SrcMin, SrcMax, DstMin, DstMax [16]byte
	Flags                          uint8
}

// IPRange flags.
const (
	IPRangeSrc    = 1 << 0
	IPRangeDst    = 1 << 1
	IPRangeSrcInv = 1 << 4
	IPRangeDstInv = 1 << 5
)

// Marshal encodes struct xt_iprange_mtinfo (72 bytes).
func (r *IPRange) Marshal() []byte {
	b := make([]byte, 72)
	copy(b[0:], r.SrcMin[:])
	copy(b[16:], r.SrcMax[:])
	copy(b[32:], r.DstMin[:])
	copy(b[48:], r.DstMax[:])
	b[64] = r.Flags
	return b
}

// State is struct xt_state_info (match "state", revision 0).
type State struct {
	StateMask uint32
}

// Marshal encodes struct xt_state_info (8 bytes).
func (s *State) Marshal() []byte {
	b := make([]byte, 8)
	ne.PutUint32(b, s.StateMask)
	return b
}

// CommentLen is XT_MAX_COMMENT_LEN.
const CommentLen = 256

// Comment is struct xt_comment_info (match "comment").
type Comment struct {
	Text string
}

// Marshal encodes struct xt_comment_info (256 bytes).
func (c *Comment) Marshal() []byte {
	b := make([]byte, CommentLen)
	copy(b[:CommentLen-1], c.Text)
	return b
}

// MarkMatch is struct xt_mark_mtinfo1 (match "mark", revision 1).
type MarkMatch struct {
	Mark, Mask uint32
	Invert     uint8
}

// Marshal encodes struct xt_mark_mtinfo1 (16 bytes).
func (m *MarkMatch) Marshal() []byte {
	b := make([]byte, 16)
	ne.PutUint32(b, m.Mark)
	ne.PutUint32(b[4:], m.Mask)
	b[8] = m.Invert
	return b
}

// Length is struct xt_length_info (match "length").
type Length struct {
	Min, Max uint16
	Invert   uint8
}

// Marshal encodes struct xt_length_info (8 bytes).
func (l *Length) Marshal() []byte {
	b := make([]byte, 8)
	ne.PutUint16(b, l.Min)
	ne.PutUint16(b[2:], l.Max)
	b[4] = l.Invert
	return b
}

// LimitScale is XT_LIMIT_SCALE: Avg is seconds between packets * scale.
const LimitScale = 10000

// Limit is struct xt_rateinfo (match "limit"). Only Avg and Burst describe
// the rule; the rest is kernel state, zero in blobs read back.
type Limit struct {
	Avg, Burst uint32
	Prev       uint64
	Credit     uint32
	CreditCap  uint32
	Cost       uint32
	Master     uint64
}

// Marshal encodes struct xt_rateinfo (40 bytes).
func (l *Limit) Marshal() []byte {
	b := make([]byte, 40)
	ne.PutUint32(b, l.Avg)
	ne.PutUint32(b[4:], l.Burst)
	ne.PutUint64(b[8:], l.Prev)
	ne.PutUint32(b[16:], l.Credit)
	ne.PutUint32(b[20:], l.CreditCap)
	ne.PutUint32(b[24:], l.Cost)
	ne.PutUint64(b[32:], l.Master)
	return b
}

// Addrtype is struct xt_addrtype_info_v1 (match "addrtype", revision 1).
type Addrtype struct {
	Source, Dest uint16
	Flags        uint32
}

// Addrtype flags.
const (
	AddrtypeInvertSource  = 0x1
	AddrtypeInvertDest    = 0x2
	AddrtypeLimitIfaceIn  = 0x4
	AddrtypeLimitIfaceOut = 0x8
)

// AddrtypeNames are the address type names by bit (XT_ADDRTYPE_*).
var AddrtypeNames = []string{"UNSPEC", "UNICAST", "LOCAL", "BROADCAST", "ANYCAST", "MULTICAST",
	"BLACKHOLE", "UNREACHABLE", "PROHIBIT", "THROW", "NAT", "XRESOLVE"}

// Marshal encodes struct xt_addrtype_info_v1 (8 bytes).
func (a *Addrtype) Marshal() []byte {
	b := make([]byte, 8)
	ne.PutUint16(b, a.Source)
	ne.PutUint16(b[2:], a.Dest)
	ne.PutUint32(b[4:], a.Flags)
	return b
}

// MAC is struct xt_mac_info (match "mac").
type MAC struct {
	Addr   [6]byte
	Invert int32
}

// Marshal encodes struct xt_mac_info (16 bytes).
func (m *MAC) Marshal() []byte {
	b := make([]byte, 16)
	copy(b, m.Addr[:])
	ne.PutUint32(b[8:], uint32(m.Invert))
	return b
}

// PktType is struct xt_pkttype_info (match "pkttype").
type PktType struct {
	PktType int32
	Invert  int32
}

// Marshal encodes struct xt_pkttype_info (8 bytes).
func (p *PktType) Marshal() []byte {
	b := make([]byte, 8)
	ne.PutUint32(b, uint32(p.PktType))
	ne.PutUint32(b[4:], uint32(p.Invert))
	return b
}

// TTL is struct ipt_ttl_info (match "ttl", IPv4) and struct ip6t_hl_info
// (match "hl", IPv6).
type TTL struct {
	Mode  uint8
	Value uint8
}

// TTL modes (IPT_TTL_EQ... / IP6T_HL_EQ...).
const (
	TTLEq = 0
	TTLNe = 1
	TTLLt = 2
	TTLGt = 3
)

// Marshal encodes struct ipt_ttl_info (8 bytes).
func (t *TTL) Marshal() []byte { return []byte{t.Mode, t.Value, 0, 0, 0, 0, 0, 0} }

func init() {
	register(&Codec{Kind: Match, Name: "multiport", Revision: 1, Size: 48, decode: func(b []byte) Info {
		m := &Multiport{Flags: b[0], Count: b[1], Invert: b[47]}
		for i := range m.Ports {
			m.Ports[i] = ne.Uint16(b[2+2*i:])
		}
		copy(m.PFlags[:], b[32:47])
		return m
	}})
	register(&Codec{Kind: Match, Name: "iprange", Revision: 1, Size: 72, decode: func(b []byte) Info {
		return &IPRange{SrcMin: [16]byte(b[0:16]), SrcMax: [16]byte(b[16:32]), DstMin: [16]byte(b[32:48]), DstMax: [16]byte(b[48:64]), Flags: b[64]}
	}})
	register(&Codec{Kind: Match, Name: "state", Size: 8, decode: func(b []byte) Info { return &State{StateMask: ne.Uint32(b)} }})
	register(&Codec{Kind: Match, Name: "comment", Size: CommentLen, decode: func(b []byte) Info { return &Comment{Text: cstr(b)} }})
	register(&Codec{Kind: Match, Name: "mark", Revision: 1, Size: 16, decode: func(b []byte) Info {
		return &MarkMatch{Mark: ne.Uint32(b), Mask: ne.Uint32(b[4:]), Invert: b[8]}
	}})
	register(&Codec{Kind: Match, Name: "length", Size: 8, decode: func(b []byte) Info {
		return &Length{Min: ne.Uint16(b), Max: ne.Uint16(b[2:]), Invert: b[4]}
	}})
	register(&Codec{Kind: Match, Name: "limit", Size: 40, UserSize: 8, decode: func(b []byte) Info {
		return &Limit{Avg: ne.Uint32(b), Burst: ne.Uint32(b[4:]), Prev: ne.Uint64(b[8:]), Credit: ne.Uint32(b[16:]),
			CreditCap: ne.Uint32(b[20:]), Cost: ne.Uint32(b[24:]), Master: ne.Uint64(b[32:])}
	}})
	register(&Codec{Kind: Match, Name: "addrtype", Revision: 1, Size: 8, decode: func(b []byte) Info {
		return &Addrtype{Source: ne.Uint16(b), Dest: ne.Uint16(b[2:]), Flags: ne.Uint32(b[4:])}
	}})
	register(&Codec{Kind: Match, Name: "mac", Size: 16, decode: func(b []byte) Info {
		return &MAC{Addr: [6]byte(b[0:6]), Invert: int32(ne.Uint32(b[8:]))}
	}})
	register(&Codec{Kind: Match, Name: "pkttype", Size: 8, decode: func(b []byte) Info {
		return &PktType{PktType: int32(ne.Uint32(b)), Invert: int32(ne.Uint32(b[4:]))}
	}})
	ttl := func(b []byte) Info { return &TTL{Mode: b[0], Value: b[1]} }
	register(&Codec{Kind: Match, Name: "ttl", Family: IPv4, Size: 8, decode: ttl})
	register(&Codec{Kind: Match, Name: "hl", Family: IPv6, Size: 8, decode: ttl})
}
