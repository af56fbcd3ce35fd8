package xt

// Conntrack is struct xt_conntrack_mtinfo3 (match "conntrack", revision 3,
// the revision iptables 1.8.9 emits for -m conntrack and -m state).
// Addresses are network order (IPv4 in the first 4 bytes); the rest,
// ports included (revision 3 compares ranges with ntohs of the tuple's
// port), is host order.
type Conntrack struct {
	OrigSrcAddr, OrigSrcMask [16]byte
	OrigDstAddr, OrigDstMask [16]byte
	ReplSrcAddr, ReplSrcMask [16]byte
	ReplDstAddr, ReplDstMask [16]byte
	ExpiresMin, ExpiresMax   uint32
	L4Proto                  uint16
	OrigSrcPort, OrigDstPort uint16
	ReplSrcPort, ReplDstPort uint16
	MatchFlags, InvertFlags  uint16
	StateMask, StatusMask    uint16
	OrigSrcPortHigh          uint16
	OrigDstPortHigh          uint16
	ReplSrcPortHigh          uint16
	ReplDstPortHigh          uint16
}

// Conntrack match flags (XT_CONNTRACK_*).
const (
	CTState       = 1 << 0
	CTProto       = 1 << 1
	CTOrigSrc     = 1 << 2
	CTOrigDst     = 1 << 3
	CTReplSrc     = 1 << 4
	CTReplDst     = 1 << 5
	CTStatus      = 1 << 6
	CTExpires     = 1 << 7
	CTOrigSrcPort = 1 << 8
	CTOrigDstPort = 1 << 9
	CTReplSrcPort = 1 << 10
	CTReplDstPort = 1 << 11
	CTDirection   = 1 << 12
	CTStateAlias  = 1 << 13
)

// Conntrack state bits (XT_CONNTRACK_STATE_BIT and friends).
const (
	CTStateInvalid     = 1 << 0
	CTStateEstablished = 1 << 1
	CTStateRelated     = 1 << 2
	CTStateNew         = 1 << 3
	CTStateUntracked   = 1 << 8
	CTStateSNAT        = 1 << 6
	CTStateDNAT        = 1 << 7
)

// Conntrack status bits (IPS_*).
const (
	CTStatusExpected  = 1 << 0
	CTStatusSeenReply = 1 << 1
	CTStatusAssured   = 1 << 2
	CTStatusConfirmed = 1 << 3
)

// Marshal encodes struct xt_conntrack_mtinfo3 (168 bytes).
func (c *Conntrack) Marshal() []byte {
	b := make([]byte, 168)
	for i, a := range [][16]byte{c.OrigSrcAddr, c.OrigSrcMask, c.OrigDstAddr, c.OrigDstMask,
		c.ReplSrcAddr, c.ReplSrcMask, c.ReplDstAddr, c.ReplDstMask} {
		copy(b[16*i:], a[:])
	}
	ne.PutUint32(b[128:], c.ExpiresMin)
	ne.PutUint32(b[132:], c.ExpiresMax)
	for i, v := range []uint16{c.L4Proto, c.OrigSrcPort, c.OrigDstPort, c.ReplSrcPort, c.ReplDstPort,
		c.MatchFlags, c.InvertFlags, c.StateMask, c.StatusMask,
		c.OrigSrcPortHigh, c.OrigDstPortHigh, c.ReplSrcPortHigh, c.ReplDstPortHigh} {
		ne.PutUint16(b[136+2*i:], v)
	}
	return b
}

func init() {
	register(&Codec{Kind: Match, Name: "conntrack", Revision: 3, Size: 168, decode: func(b []byte) Info {
		c := &Conntrack{}
		for i, a := range []*[16]byte{&c.OrigSrcAddr, &c.OrigSrcMask, &c.OrigDstAddr, &c.OrigDstMask,
			&c.ReplSrcAddr, &c.ReplSrcMask, &c.ReplDstAddr, &c.ReplDstMask} {
			*a = [16]byte(b[16*i : 16*i+16])
		}
		c.ExpiresMin = ne.Uint32(b[128:])
		c.ExpiresMax = ne.Uint32(b[132:])
		for i, p := range []*uint16{&c.L4Proto, &c.OrigSrcPort, &c.OrigDstPort, &c.ReplSrcPort, &c.ReplDstPort,
			&c.MatchFlags, &c.InvertFlags, &c.StateMask, &c.StatusMask,
			&c.OrigSrcPortHigh, &c.OrigDstPortHigh, &c.ReplSrcPortHigh, &c.ReplDstPortHigh} {
			*p = ne.Uint16(b[136+2*i:])
		}
		return c
	}})
}
