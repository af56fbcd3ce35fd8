package xt

// ConntrackOld is struct xt_conntrack_mtinfo1 (Revision 1: 8-bit state
// and status masks) or xt_conntrack_mtinfo2 (Revision 2: 16-bit), written
// by older iptables. Ports are single ports in network order.
type ConntrackOld struct {
	Revision                uint8
	Addrs                   [8][16]byte // origsrc, mask, origdst, mask, replsrc, mask, repldst, mask
	ExpiresMin, ExpiresMax  uint32
	L4Proto                 uint16
	Ports                   [4]uint16 // origsrc, origdst, replsrc, repldst; network order
	MatchFlags, InvertFlags uint16
	StateMask, StatusMask   uint16
}

func (c *ConntrackOld) size() int {
	if c.Revision == 1 {
		return 152
	}
	return 160
}

// Marshal encodes the revision's struct (152 or 160 bytes).
func (c *ConntrackOld) Marshal() []byte {
	b := make([]byte, c.size())
	for i, a := range c.Addrs {
		copy(b[16*i:], a[:])
	}
	ne.PutUint32(b[128:], c.ExpiresMin)
	ne.PutUint32(b[132:], c.ExpiresMax)
	ne.PutUint16(b[136:], c.L4Proto)
	for i, p := range c.Ports {
		ne.PutUint16(b[138+2*i:], p)
	}
	ne.PutUint16(b[146:], c.MatchFlags)
	ne.PutUint16(b[148:], c.InvertFlags)
	if c.Revision == 1 {
		b[150], b[151] = uint8(c.StateMask), uint8(c.StatusMask)
		return b
	}
	ne.PutUint16(b[150:], c.StateMask)
	ne.PutUint16(b[152:], c.StatusMask)
	return b
}

func ntohs(v uint16) uint16 {
	var b [2]byte
	ne.PutUint16(b[:], v)
	return uint16(b[0])<<8 | uint16(b[1])
}

// AsV3 returns the same match as revision 3 data (host-order port ranges
// of one port), for printing and translation.
func (c *ConntrackOld) AsV3() *Conntrack {
	v := &Conntrack{
		OrigSrcAddr: c.Addrs[0], OrigSrcMask: c.Addrs[1], OrigDstAddr: c.Addrs[2], OrigDstMask: c.Addrs[3],
		ReplSrcAddr: c.Addrs[4], ReplSrcMask: c.Addrs[5], ReplDstAddr: c.Addrs[6], ReplDstMask: c.Addrs[7],
		ExpiresMin: c.ExpiresMin, ExpiresMax: c.ExpiresMax, L4Proto: c.L4Proto,
		MatchFlags: c.MatchFlags, InvertFlags: c.InvertFlags, StateMask: c.StateMask, StatusMask: c.StatusMask,
	}
	v.OrigSrcPort, v.OrigDstPort = ntohs(c.Ports[0]), ntohs(c.Ports[1])
	v.ReplSrcPort, v.ReplDstPort = ntohs(c.Ports[2]), ntohs(c.Ports[3])
	v.OrigSrcPortHigh, v.OrigDstPortHigh = v.OrigSrcPort, v.OrigDstPort
	v.ReplSrcPortHigh, v.ReplDstPortHigh = v.ReplSrcPort, v.ReplDstPort
	return v
}

func init() {
	for _, rev := range []uint8{1, 2} {
		c := &ConntrackOld{Revision: rev}
		register(&Codec{Kind: Match, Name: "conntrack", Revision: rev, Size: c.size(), decode: func(b []byte) Info {
			o := &ConntrackOld{Revision: rev}
			for i := range o.Addrs {
				o.Addrs[i] = [16]byte(b[16*i : 16*i+16])
			}
			o.ExpiresMin, o.ExpiresMax = ne.Uint32(b[128:]), ne.Uint32(b[132:])
			o.L4Proto = ne.Uint16(b[136:])
			for i := range o.Ports {
				o.Ports[i] = ne.Uint16(b[138+2*i:])
			}
			o.MatchFlags, o.InvertFlags = ne.Uint16(b[146:]), ne.Uint16(b[148:])
			if rev == 1 {
				o.StateMask, o.StatusMask = uint16(b[150]), uint16(b[151])
			} else {
				o.StateMask, o.StatusMask = ne.Uint16(b[150:]), ne.Uint16(b[152:])
			}
			return o
		}})
	}
}
