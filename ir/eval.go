package ir

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// MaxIPv6ExtHeaders bounds the IPv6 extension header walk.
const MaxIPv6ExtHeaders = 8

// L4HeaderLen is the number of transport header bytes that must be present
// for a protocol's L4 fields to be readable (0: the protocol's header is not
// parsed).
func L4HeaderLen(proto uint8) int {
	switch proto {
	case ProtoTCP:
		return 20
	case ProtoUDP:
		return 8
	case ProtoICMP, ProtoICMPv6:
		return 4
	}
	return 0
}

// Packet is the input of the evaluator: the packet bytes and the metadata
// the hook provides.
type Packet struct {
	// Data starts at the Ethernet header when L2 is true (XDP, TC), at the
	// network header otherwise (netfilter, cgroup_skb).
	Data []byte
	L2   bool
	// L3Proto is the EtherType when L2 is false (netfilter family,
	// skb->protocol).
	L3Proto uint16
	// Ifindex is the input interface on ingress hooks, the output interface
	// on egress hooks.
	Ifindex uint32
	// Mark is skb->mark, FlowHash skb->hash.
	Mark     uint32
	FlowHash uint32
	// Random is what bpf_get_prandom_u32 returns for this packet.
	Random uint32
	// Sock describes the socket operation on cgroup sock_addr hooks (Data
	// is unused there).
	Sock *SockAddr
	// InIfName and OutIfName are the names of the netfilter hook's input
	// and output devices ("" when the hook has none).
	InIfName, OutIfName string
	// NFCT is skb->_nfct on netfilter hooks: the conntrack entry pointer
	// (any non-zero value above the low three bits) ORed with the
	// ip_conntrack_info in the low three bits (see CtStateBit).
	NFCT uint64
	// CtProto is the layer 4 protocol of the conntrack entry's original
	// tuple (ct.proto), meaningful when NFCT has an entry.
	CtProto uint8
	// InIfindex and OutIfindex are the indexes of the netfilter hook's
	// input and output devices (0: none); the addrtype fields limited to
	// an interface read them.
	InIfindex, OutIfindex uint32
	// LocalRoutes is the IPv4 routing table the addrtype fields look
	// addresses up in (see addrtype.go); nil is an empty table.
	LocalRoutes *LocalRoutes
	// AddrTypes6 is the IPv6 address type lookup table (addrtype6.go);
	// nil answers UNREACHABLE (no route) for every address.
	AddrTypes6 *AddrTypes6
	// Limits is the time and the token buckets meta.limit matches read
	// and update (nil: every bucket is full). See limit.go.
	Limits *LimitState
	// Ct is the rest of the conntrack entry (ir/conntrack.go), meaningful
	// when NFCT has an entry.
	Ct CtEntry
	// PktType is skb->pkt_type (meta.pkttype; see pktmatch.go).
	PktType uint8
	// MACHeader is the Ethernet header xt_mac reads (eth.saddr): nil when
	// the device is not Ethernet or the MAC header is unset or overlaps
	// the network header.
	MACHeader []byte
}

// SockAddr is the context of a cgroup sock_addr hook.
type SockAddr struct {
	// Family is 4 or 6; Proto the socket's IP protocol.
	Family int
	Proto  uint8
	// Dst and Src are 4 or 16 bytes; Src is only known on sendmsg.
	Dst     []byte
	DstPort uint16
	Src     []byte
}

// Parsed is a packet after the prologue every program runs: where each
// header is, and whether parsing failed.
type Parsed struct {
	L3Proto uint16
	// L3 and L4 are the header bytes (to the end of the packet); nil when
	// absent.
	L3, L4 []byte
	// L4Proto is the transport protocol (valid when HasL4Proto).
	L4Proto    uint8
	HasL4Proto bool
	// Err is set when a header was announced but truncated or malformed.
	Err error

	// xt hotdrop inputs (ir/xthotdrop.go): what netfilter's xt matches
	// look at and L4 discards.
	//
	// Transport is the bytes from the transport offset to the end of the
	// packet, also when fewer than L4HeaderLen (L4 is nil then); nil on
	// non-first fragments and when the offset is unknown.
	Transport []byte
	// FragOff is the fragment offset as xt matches see it (par->fragoff):
	// in 8-byte units for IPv4, in bytes (a multiple of 8) for IPv6.
	FragOff uint16
}

// Parse runs the packet-parsing prologue on p.
func Parse(p *Packet) Parsed {
	var out Parsed
	data := p.Data
	if p.L2 {
		if len(data) < 14 {
			out.Err = fmt.Errorf("truncated Ethernet header (%d bytes)", len(data))
			return out
		}
		out.L3Proto = binary.BigEndian.Uint16(data[12:14])
		data = data[14:]
	} else {
		out.L3Proto = p.L3Proto
	}
	switch out.L3Proto {
	case EthPIP:
		if len(data) < 20 || data[0]>>4 != 4 || int(data[0]&0x0f)*4 < 20 || len(data) < int(data[0]&0x0f)*4 {
			out.Err = fmt.Errorf("truncated or malformed IPv4 header")
			return out
		}
		out.L3 = data
		out.L4Proto, out.HasL4Proto = data[9], true
		out.FragOff = binary.BigEndian.Uint16(data[6:8]) & 0x1fff
		if out.FragOff != 0 {
			return out // non-first fragment: no transport header
		}
		out.L4 = data[int(data[0]&0x0f)*4:]
		out.Transport = out.L4
	case EthPIPv6:
		if len(data) < 40 || data[0]>>4 != 6 {
			out.Err = fmt.Errorf("truncated or malformed IPv6 header")
			return out
		}
		out.L3 = data
		next, off := data[6], 40
		for i := 0; ; i++ {
			if !isIPv6ExtHeader(next) {
				break
			}
			if i == MaxIPv6ExtHeaders {
				out.L4Proto, out.HasL4Proto = next, true
				return out
			}
			if len(data) < off+8 {
				out.Err = fmt.Errorf("truncated IPv6 extension header")
				return out
			}
			h := data[off:]
			switch next {
			case 44: // fragment
				if binary.BigEndian.Uint16(h[2:4])&0xfff8 != 0 {
					out.FragOff = binary.BigEndian.Uint16(h[2:4]) & 0xfff8
					out.L4Proto, out.HasL4Proto = h[0], true
					return out
				}
				off += 8
			case 51: // authentication header
				off += (int(h[1]) + 2) * 4
			default:
				off += (int(h[1]) + 1) * 8
			}
			next = h[0]
		}
		out.L4Proto, out.HasL4Proto = next, true
		if len(data) < off {
			out.Err = fmt.Errorf("truncated IPv6 extension header")
			return out
		}
		out.L4 = data[off:]
		out.Transport = out.L4
	default:
		return out
	}
	if need := L4HeaderLen(out.L4Proto); need > 0 && len(out.L4) < need {
		out.L4 = nil
		out.Err = fmt.Errorf("truncated transport header (protocol %d)", out.L4Proto)
	}
	return out
}

func isIPv6ExtHeader(n uint8) bool {
	switch n {
	case 0, 43, 44, 51, 60:
		return true
	}
	return false
}

// FlowHash is the 5-tuple hash meta.flow_probability uses. The backend
// computes the same function: h starts at 0x9e3779b9 and, for each 32-bit
// big-endian word w of (source address, destination address, sport<<16 |
// dport, protocol), becomes (h ^ w) * 0x01000193 modulo 2^32.
func FlowHash(saddr, daddr []byte, sport, dport uint16, proto uint8) uint32 {
	h := uint32(0x9e3779b9)
	mix := func(w uint32) { h = (h ^ w) * 0x01000193 }
	for i := 0; i+4 <= len(saddr); i += 4 {
		mix(binary.BigEndian.Uint32(saddr[i:]))
	}
	for i := 0; i+4 <= len(daddr); i += 4 {
		mix(binary.BigEndian.Uint32(daddr[i:]))
	}
	mix(uint32(sport)<<16 | uint32(dport))
	mix(uint32(proto))
	return h
}

// FieldValue extracts field f from a parsed packet, as a big-endian value of
// f's width; ok is false when the packet does not carry the field.
func FieldValue(f Field, p *Packet, pp *Parsed) (v []byte, ok bool) {
	if p.Sock != nil {
		if f == MetaProbability {
			return putUint(uint64(p.Random%ProbabilityScale), 4), true
		}
		return sockFieldValue(f, p.Sock)
	}
	fi := f.Info()
	if len(fi.L4) > 0 {
		if !pp.HasL4Proto || pp.L4 == nil || !containsU8(fi.L4, pp.L4Proto) {
			return nil, false
		}
	}
	switch f {
	case MetaIifName, MetaOifName, CtState, CtProto:
		return netfilterFieldValue(f, p)
	case AddrSType, AddrDType, AddrSTypeIif, AddrDTypeIif, AddrSTypeOif, AddrDTypeOif:
		return addrTypeFieldValue(f, p, pp)
	case CtDir, CtStatus, CtExpire, CtOrigSaddr4, CtOrigDaddr4, CtReplSaddr4, CtReplDaddr4,
		CtOrigSaddr6, CtOrigDaddr6, CtReplSaddr6, CtReplDaddr6, CtOrigSport, CtOrigDport, CtReplSport, CtReplDport:
		return ctEntryFieldValue(f, p) // ir/conntrack.go
	case MetaPktType, MetaMACSaddr:
		return pktFieldValue(f, p, pp)
	case TCPOption, TCPPort, UDPPort:
		return nil, false // whole matches: compoundMatch
	case MetaIface:
		return putUint(uint64(p.Ifindex), 4), true
	case MetaL3Proto:
		return putUint(uint64(pp.L3Proto), 2), true
	case MetaL4Proto:
		if !pp.HasL4Proto {
			return nil, false
		}
		return []byte{pp.L4Proto}, true
	case MetaProbability:
		return putUint(uint64(p.Random%ProbabilityScale), 4), true
	case MetaSport:
		return append([]byte(nil), pp.L4[0:2]...), true
	case MetaDport:
		return append([]byte(nil), pp.L4[2:4]...), true
	case MetaMark:
		return putUint(uint64(p.Mark), 4), true
	case MetaFlowHash:
		return putUint(uint64(p.FlowHash), 4), true
	case MetaFlowProbability:
		if pp.L3 == nil || pp.L4 == nil || (pp.L4Proto != ProtoTCP && pp.L4Proto != ProtoUDP) {
			return nil, false
		}
		var s, d []byte
		if pp.L3Proto == EthPIP {
			s, d = pp.L3[12:16], pp.L3[16:20]
		} else {
			s, d = pp.L3[8:24], pp.L3[24:40]
		}
		h := FlowHash(s, d, binary.BigEndian.Uint16(pp.L4[0:2]), binary.BigEndian.Uint16(pp.L4[2:4]), pp.L4Proto)
		return putUint(uint64(h%ProbabilityScale), 4), true
	}
	var hdr []byte
	switch fi.Layer {
	case LayerL3:
		if pp.L3Proto != fi.L3 || pp.L3 == nil {
			return nil, false
		}
		hdr = pp.L3
	case LayerL4:
		hdr = pp.L4
	default:
		return nil, false
	}
	ld := fi.Load
	if len(hdr) < ld.Offset+ld.Size {
		return nil, false
	}
	raw := hdr[ld.Offset : ld.Offset+ld.Size]
	if ld.Shift == 0 && ld.Mask == 0 {
		return append([]byte(nil), raw...), true
	}
	x := Uint(raw) >> ld.Shift
	if ld.Mask != 0 {
		x &= uint64(ld.Mask)
	}
	return putUint(x, f.Width()), true
}

func sockFieldValue(f Field, s *SockAddr) ([]byte, bool) {
	ethp := uint64(EthPIP)
	if s.Family == 6 {
		ethp = EthPIPv6
	}
	port := putUint(uint64(s.DstPort), 2)
	switch f {
	case MetaL3Proto:
		return putUint(ethp, 2), true
	case MetaL4Proto, IP4Proto:
		if f == IP4Proto && s.Family != 4 {
			return nil, false
		}
		return []byte{s.Proto}, true
	case MetaDport:
		return port, true
	case TCPDport:
		return port, s.Proto == ProtoTCP
	case UDPDport:
		return port, s.Proto == ProtoUDP
	case IP4Daddr, IP4Dnet:
		return s.Dst, s.Family == 4 && len(s.Dst) == 4
	case IP6Daddr, IP6Dnet:
		return s.Dst, s.Family == 6 && len(s.Dst) == 16
	case IP4Saddr, IP4Snet:
		return s.Src, s.Family == 4 && len(s.Src) == 4
	case IP6Saddr, IP6Snet:
		return s.Src, s.Family == 6 && len(s.Src) == 16
	}
	return nil, false
}

func containsU8(s []uint8, v uint8) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// Result is the outcome of evaluating a chain.
type Result struct {
	Verdict Verdict
	// Rule is the index of the rule that decided, -1 for the policy.
	Rule int
	// Chain is the chain that decided (differs from the evaluated chain
	// after JUMP/GOTO).
	Chain string
	// Hits lists every rule whose actions ran (CONTINUE rules included), as
	// chain name and rule index, in order.
	Hits []Hit
	// ParseError is set when the prologue counted a parse error.
	ParseError bool
	// Mark is the last mark a matching rule wrote, if any.
	Mark *uint32
	// HotDrop is set when a match dropped the packet at Rule, as
	// xt_tcpudp's hotdrop does (see RuleOutcome): the verdict is DROP and
	// no counter counts the packet.
	HotDrop bool
}

// Hit is one rule whose actions ran.
type Hit struct {
	Chain string
	Rule  int
}

// maxJumpDepth bounds JUMP nesting, as the kernel does for xtables.
const maxJumpDepth = 32

// Eval runs packet p through chain c of ruleset rs (rs may be nil when the
// chain has no JUMP/GOTO) and returns the verdict the kernel program must
// produce.
//
// A mark written by a matching rule is what meta.mark (and sets keyed on
// it) read in later rules, as skb->mark is in the kernel.
func Eval(rs *Ruleset, c *Chain, p *Packet) Result {
	own := *p // evalChain updates Mark
	p = &own
	pp := Parse(p)
	res := Result{ParseError: pp.Err != nil}
	v, chain, idx, done := evalChain(rs, c, p, &pp, &res, 0)
	if !done {
		v, chain, idx = c.Policy, c.Name, -1
	}
	if v.Kind == Return {
		v, chain, idx = c.Policy, c.Name, -1
	}
	res.Verdict, res.Chain, res.Rule = v, chain, idx
	return res
}

func evalChain(rs *Ruleset, c *Chain, p *Packet, pp *Parsed, res *Result, depth int) (Verdict, string, int, bool) {
	for i, r := range c.Rules {
		matched, hot := RuleOutcome(c, r, p, pp)
		if hot {
			res.HotDrop = true
			return Verdict{Kind: Drop}, c.Name, i, true
		}
		if !matched {
			continue
		}
		res.Hits = append(res.Hits, Hit{c.Name, i})
		if r.Mark != nil {
			m := *r.Mark
			res.Mark = &m
			p.Mark = m
		}
		switch r.Verdict.Kind {
		case Continue:
			continue
		case Jump, Goto:
			var t *Chain
			if rs != nil {
				t = rs.Chain(r.Verdict.Chain)
			}
			if t == nil || depth >= maxJumpDepth {
				return Verdict{Kind: Drop}, c.Name, i, true
			}
			v, ch, idx, done := evalChain(rs, t, p, pp, res, depth+1)
			if r.Verdict.Kind == Goto {
				if !done {
					return Verdict{Kind: Return}, t.Name, -1, true
				}
				return v, ch, idx, true
			}
			if done && v.Kind != Return {
				return v, ch, idx, true
			}
			continue
		}
		return r.Verdict, c.Name, i, true
	}
	return Verdict{}, "", 0, false
}

// RuleMatches reports whether every match of r holds for the packet.
func RuleMatches(c *Chain, r *Rule, p *Packet, pp *Parsed) bool {
	for i := range r.Matches {
		if !MatchHolds(c, &r.Matches[i], p, pp) {
			return false
		}
	}
	return true
}

// MatchHolds evaluates one match.
func MatchHolds(c *Chain, m *Match, p *Packet, pp *Parsed) bool {
	if m.Op == OpIn {
		s := c.Set(m.Set)
		if s == nil {
			return false
		}
		var key []byte
		for _, f := range s.Key {
			v, ok := FieldValue(f, p, pp)
			if !ok {
				return false
			}
			key = append(key, v...)
		}
		return setContains(s, key) != m.Negate
	}
	if m.Field == MetaLimit { // stateful: limit.go
		return limitHolds(c, m, p) != m.Negate
	}
	if ctEntryHolds(m, p) {
		return true // no conntrack entry: see ir/conntrack.go
	}
	if hit, handled := compoundMatch(m, p, pp); handled {
		return hit
	}
	v, ok := FieldValue(m.Field, p, pp)
	if !ok {
		return false
	}
	var hit bool
	switch m.Op {
	case OpEq:
		if m.Field == MetaProbability || m.Field == MetaFlowProbability {
			hit = Uint(v) < Uint(m.Value)
			break
		}
		hit = bytes.Equal(and(v, m.Mask), m.Value)
	case OpRange:
		hit = bytes.Compare(v, m.Value) >= 0 && bytes.Compare(v, m.High) <= 0
	case OpRanges:
		w := len(v)
		for i := 0; w > 0 && i+w <= len(m.Value) && i+w <= len(m.High); i += w {
			if bytes.Compare(v, m.Value[i:i+w]) >= 0 && bytes.Compare(v, m.High[i:i+w]) <= 0 {
				hit = true
				break
			}
		}
	case OpAny:
		hit = Uint(v)&Uint(m.Value) != 0
	case OpAll:
		hit = Uint(v)&Uint(m.Value) == Uint(m.Value)
	}
	return hit != m.Negate
}

func and(v, mask []byte) []byte {
	if mask == nil {
		return v
	}
	out := make([]byte, len(v))
	for i := range v {
		out[i] = v[i] & mask[i]
	}
	return out
}

func setContains(s *Set, key []byte) bool {
	lpm := s.IsLPM()
	for _, e := range s.Elems {
		if !lpm {
			if bytes.Equal(e.Key, key) {
				return true
			}
			continue
		}
		m := PrefixMask(e.PrefixLen, len(key))
		if bytes.Equal(and(key, m), and(e.Key, m)) {
			return true
		}
	}
	return false
}
