package xt

// AddrtypeV0 is struct xt_addrtype_info (match "addrtype", revision 0,
// IPv4 only), which current iptables no longer writes but the kernel still
// accepts, so a host's tables may hold it. (Older revisions of mark, MARK,
// multiport and iprange are gone from the kernel too, so they cannot
// appear in a live table.)
type AddrtypeV0 struct {
	Source, Dest             uint16
	InvertSource, InvertDest uint32
}

// Marshal encodes struct xt_addrtype_info (16 bytes).
func (a *AddrtypeV0) Marshal() []byte {
	b := make([]byte, 16)
	ne.PutUint16(b, a.Source)
	ne.PutUint16(b[2:], a.Dest)
	ne.PutUint32(b[4:], a.InvertSource)
	ne.PutUint32(b[8:], a.InvertDest)
	return b
}

func init() {
	register(&Codec{Kind: Match, Name: "addrtype", Revision: 0, Family: IPv4, Size: 16, decode: func(b []byte) Info {
		return &AddrtypeV0{Source: ne.Uint16(b), Dest: ne.Uint16(b[2:]), InvertSource: ne.Uint32(b[4:]), InvertDest: ne.Uint32(b[8:])}
	}})
}
