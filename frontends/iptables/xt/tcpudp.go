package xt

// TCP is struct xt_tcp (match "tcp", revision 0).
type TCP struct {
	SrcPorts [2]uint16
	DstPorts [2]uint16
	Option   uint8
	FlagMask uint8
	FlagCmp  uint8
	InvFlags uint8
}

// Inverse flags of TCP.InvFlags (XT_TCP_INV_*).
const (
	TCPInvSrcPorts = 0x01
	TCPInvDstPorts = 0x02
	TCPInvFlags    = 0x04
	TCPInvOption   = 0x08
)

// Marshal encodes struct xt_tcp, padded to 16 bytes.
func (t *TCP) Marshal() []byte {
	b := make([]byte, 16)
	ne.PutUint16(b[0:], t.SrcPorts[0])
	ne.PutUint16(b[2:], t.SrcPorts[1])
	ne.PutUint16(b[4:], t.DstPorts[0])
	ne.PutUint16(b[6:], t.DstPorts[1])
	b[8], b[9], b[10], b[11] = t.Option, t.FlagMask, t.FlagCmp, t.InvFlags
	return b
}

// UDP is struct xt_udp (match "udp", revision 0).
type UDP struct {
	SrcPorts [2]uint16
	DstPorts [2]uint16
	InvFlags uint8
}

// Inverse flags of UDP.InvFlags (XT_UDP_INV_*).
const (
	UDPInvSrcPorts = 0x01
	UDPInvDstPorts = 0x02
)

// Marshal encodes struct xt_udp, padded to 16 bytes.
func (u *UDP) Marshal() []byte {
	b := make([]byte, 16)
	ne.PutUint16(b[0:], u.SrcPorts[0])
	ne.PutUint16(b[2:], u.SrcPorts[1])
	ne.PutUint16(b[4:], u.DstPorts[0])
	ne.PutUint16(b[6:], u.DstPorts[1])
	b[8] = u.InvFlags
	return b
}

// ICMP is struct ipt_icmp (match "icmp", IPv4) and struct ip6t_icmp (match
// "icmp6", IPv6): a type and an inclusive code range.
type ICMP struct {
	Type     uint8
	Code     [2]uint8
	InvFlags uint8
}

// ICMPInv is IPT_ICMP_INV / IP6T_ICMP_INV.
const ICMPInv = 0x01

// Marshal encodes struct ipt_icmp, padded to 8 bytes.
func (i *ICMP) Marshal() []byte {
	return []byte{i.Type, i.Code[0], i.Code[1], i.InvFlags, 0, 0, 0, 0}
}

func init() {
	register(&Codec{Kind: Match, Name: "tcp", Size: 16, decode: func(b []byte) Info {
		return &TCP{SrcPorts: [2]uint16{ne.Uint16(b), ne.Uint16(b[2:])}, DstPorts: [2]uint16{ne.Uint16(b[4:]), ne.Uint16(b[6:])},
			Option: b[8], FlagMask: b[9], FlagCmp: b[10], InvFlags: b[11]}
	}})
	register(&Codec{Kind: Match, Name: "udp", Size: 16, decode: func(b []byte) Info {
		return &UDP{SrcPorts: [2]uint16{ne.Uint16(b), ne.Uint16(b[2:])}, DstPorts: [2]uint16{ne.Uint16(b[4:]), ne.Uint16(b[6:])}, InvFlags: b[8]}
	}})
	dec := func(b []byte) Info { return &ICMP{Type: b[0], Code: [2]uint8{b[1], b[2]}, InvFlags: b[3]} }
	register(&Codec{Kind: Match, Name: "icmp", Family: IPv4, Size: 8, decode: dec})
	register(&Codec{Kind: Match, Name: "icmp6", Family: IPv6, Size: 8, decode: dec})
}
