package xt

// Standard is the standard target's verdict (target "", data int verdict):
// negative is -NF_x-1, non-negative a jump offset.
type Standard struct {
	Verdict int32
}

// Marshal encodes the verdict padded to 8 bytes.
func (s *Standard) Marshal() []byte {
	b := make([]byte, 8)
	ne.PutUint32(b, uint32(s.Verdict))
	return b
}

// Error is struct xt_error_target's data (target "ERROR"): a user chain's
// name at its head, or "ERROR" at the end of a table.
type Error struct {
	Name string
}

// Marshal encodes the 30-byte name padded to 32 bytes.
func (e *Error) Marshal() []byte {
	b := make([]byte, 32)
	copy(b[:29], e.Name)
	return b
}

// LogPrefixLen is the size of xt_log_info.prefix.
const LogPrefixLen = 30

// LOG flags (XT_LOG_*).
const (
	LogTCPSeq    = 0x01
	LogTCPOpt    = 0x02
	LogIPOpt     = 0x04
	LogUID       = 0x08
	LogNFLog     = 0x10
	LogMACDecode = 0x20
)

// Log is struct xt_log_info (target "LOG").
type Log struct {
	Level  uint8
	Flags  uint8
	Prefix string
}

// Marshal encodes struct xt_log_info (32 bytes).
func (l *Log) Marshal() []byte {
	b := make([]byte, 32)
	b[0], b[1] = l.Level, l.Flags
	copy(b[2:2+LogPrefixLen-1], l.Prefix)
	return b
}

// Reject is struct ipt_reject_info / ip6t_reject_info (target "REJECT").
// With holds enum ipt_reject_with or ip6t_reject_with.
type Reject struct {
	With uint32
}

// IPv4 reject kinds (enum ipt_reject_with).
const (
	RejectNetUnreach    = 0
	RejectHostUnreach   = 1
	RejectProtoUnreach  = 2
	RejectPortUnreach   = 3
	RejectEchoReply     = 4
	RejectNetProhibited = 5
	RejectHostProhib    = 6
	RejectTCPReset      = 7
	RejectAdminProhib   = 8
)

// IPv6 reject kinds (enum ip6t_reject_with).
const (
	Reject6NoRoute     = 0
	Reject6AdmProhib   = 1
	Reject6NotNeighbor = 2
	Reject6AddrUnreach = 3
	Reject6PortUnreach = 4
	Reject6EchoReply   = 5
	Reject6TCPReset    = 6
	Reject6PolicyFail  = 7
	Reject6RejectRoute = 8
)

// Marshal encodes the reject info (8 bytes).
func (r *Reject) Marshal() []byte {
	b := make([]byte, 8)
	ne.PutUint32(b, r.With)
	return b
}

// MarkTarget is struct xt_mark_tginfo2 (target "MARK", revision 2): the
// new mark is (old & ~Mask) ^ Mark.
type MarkTarget struct {
	Mark, Mask uint32
}

// Marshal encodes struct xt_mark_tginfo2 (8 bytes).
func (m *MarkTarget) Marshal() []byte {
	b := make([]byte, 8)
	ne.PutUint32(b, m.Mark)
	ne.PutUint32(b[4:], m.Mask)
	return b
}

// NFLogPrefixLen is the size of xt_nflog_info.prefix.
const NFLogPrefixLen = 64

// NFLog is struct xt_nflog_info (target "NFLOG").
type NFLog struct {
	Len       uint32
	Group     uint16
	Threshold uint16
	Flags     uint16
	Pad       uint16
	Prefix    string
}

// Marshal encodes struct xt_nflog_info (80 bytes).
func (n *NFLog) Marshal() []byte {
	b := make([]byte, 80)
	ne.PutUint32(b, n.Len)
	ne.PutUint16(b[4:], n.Group)
	ne.PutUint16(b[6:], n.Threshold)
	ne.PutUint16(b[8:], n.Flags)
	ne.PutUint16(b[10:], n.Pad)
	copy(b[12:12+NFLogPrefixLen-1], n.Prefix)
	return b
}

// NFQueue is struct xt_NFQ_info_v3 (target "NFQUEUE", revision 3; revision
// 0 has only QueueNum).
type NFQueue struct {
	Revision    uint8
	QueueNum    uint16
	QueuesTotal uint16
	Flags       uint16
}

// Marshal encodes the NFQUEUE info (8 bytes).
func (q *NFQueue) Marshal() []byte {
	b := make([]byte, 8)
	ne.PutUint16(b, q.QueueNum)
	if q.Revision > 0 {
		ne.PutUint16(b[2:], q.QueuesTotal)
	}
	if q.Revision > 1 {
		ne.PutUint16(b[4:], q.Flags)
	}
	return b
}

func init() {
	register(&Codec{Kind: Target, Name: "", Size: 8, decode: func(b []byte) Info { return &Standard{Verdict: int32(ne.Uint32(b))} }})
	register(&Codec{Kind: Target, Name: "ERROR", Size: 32, decode: func(b []byte) Info { return &Error{Name: cstr(b[:30])} }})
	register(&Codec{Kind: Target, Name: "LOG", Size: 32, decode: func(b []byte) Info {
		return &Log{Level: b[0], Flags: b[1], Prefix: cstr(b[2 : 2+LogPrefixLen])}
	}})
	rej := func(b []byte) Info { return &Reject{With: ne.Uint32(b)} }
	register(&Codec{Kind: Target, Name: "REJECT", Family: IPv4, Size: 8, decode: rej})
	register(&Codec{Kind: Target, Name: "REJECT", Family: IPv6, Size: 8, decode: rej})
	register(&Codec{Kind: Target, Name: "MARK", Revision: 2, Size: 8, decode: func(b []byte) Info {
		return &MarkTarget{Mark: ne.Uint32(b), Mask: ne.Uint32(b[4:])}
	}})
	register(&Codec{Kind: Target, Name: "NFLOG", Size: 80, decode: func(b []byte) Info {
		return &NFLog{Len: ne.Uint32(b), Group: ne.Uint16(b[4:]), Threshold: ne.Uint16(b[6:]), Flags: ne.Uint16(b[8:]),
			Pad: ne.Uint16(b[10:]), Prefix: cstr(b[12 : 12+NFLogPrefixLen])}
	}})
	for rev := uint8(0); rev <= 3; rev++ {
		register(&Codec{Kind: Target, Name: "NFQUEUE", Revision: rev, Size: 8, decode: func(b []byte) Info {
			q := &NFQueue{Revision: rev, QueueNum: ne.Uint16(b)}
			if rev > 0 {
				q.QueuesTotal = ne.Uint16(b[2:])
			}
			if rev > 1 {
				q.Flags = ne.Uint16(b[4:])
			}
			return q
		}})
	}
}
