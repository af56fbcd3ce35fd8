package backend

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/bpfilter-go/bpfilter/ir"
)

// Layout of a bf_log record (native endian), written by the log action.
const (
	logOffTime      = 0  // u64 bpf_ktime_get_ns()
	logOffRule      = 8  // u32 rule index
	logOffVerdict   = 12 // u8 ir.VerdictKind of the rule
	logOffHook      = 13 // u8 ir.Hook
	logOffL4Proto   = 14 // u8 L4 protocol
	logOffFlags     = 15 // u8 logFlag*
	logOffPktLen    = 16 // u32 packet length
	logOffL3Proto   = 20 // u16 EtherType
	logOffPID       = 24 // u32 process id (sock_addr hooks)
	logOffComm      = 32 // [16]byte process name (sock_addr hooks)
	logOffLink      = 48 // [16]byte Ethernet header (14 used)
	logOffNetwork   = 64 // [40]byte network header
	logOffTransport = 104
	// LogRecordSize is the size of one bf_log record.
	LogRecordSize = 128
)

// Flags of a log record.
const (
	logFlagL4Known     = 1 << 0
	logFlagL3Present   = 1 << 1
	logFlagL4Present   = 1 << 2
	logFlagWantLink    = 1 << 3
	logFlagWantNetwork = 1 << 4
	logFlagWantTrans   = 1 << 5
)

// LogEntry is one decoded bf_log record.
type LogEntry struct {
	// Time is bpf_ktime_get_ns() when the rule matched (CLOCK_MONOTONIC).
	Time time.Duration
	// Rule is the index of the rule that logged.
	Rule    int
	Verdict ir.VerdictKind
	Hook    ir.Hook
	// PacketLen is the length of the packet as the program saw it.
	PacketLen uint32
	L3Proto   uint16
	L4Proto   uint8
	// HasL4Proto reports whether L4Proto is known.
	HasL4Proto bool
	// Link, Network and Transport are the raw headers the rule asked for
	// and the packet carried (nil otherwise).
	Link, Network, Transport []byte
	// Socket operation (cgroup sock_addr hooks): process and addresses.
	PID     uint32
	Comm    string
	Dst     netip.Addr
	DstPort uint16
	Src     netip.Addr
}

// DecodeLogRecord decodes one bf_log record.
func DecodeLogRecord(rec []byte) (LogEntry, error) {
	var e LogEntry
	if len(rec) < LogRecordSize {
		return e, fmt.Errorf("log record has %d bytes, want %d", len(rec), LogRecordSize)
	}
	ne := binary.NativeEndian
	e.Time = time.Duration(ne.Uint64(rec[logOffTime:]))
	e.Rule = int(ne.Uint32(rec[logOffRule:]))
	e.Verdict = ir.VerdictKind(rec[logOffVerdict])
	e.Hook = ir.Hook(rec[logOffHook])
	if !e.Hook.Valid() {
		return e, fmt.Errorf("log record has an invalid hook %d", rec[logOffHook])
	}
	e.L4Proto = rec[logOffL4Proto]
	flags := rec[logOffFlags]
	e.HasL4Proto = flags&logFlagL4Known != 0
	e.PacketLen = ne.Uint32(rec[logOffPktLen:])
	e.L3Proto = ne.Uint16(rec[logOffL3Proto:])
	netHdr := rec[logOffNetwork : logOffNetwork+l3BufLen]
	trans := rec[logOffTransport : logOffTransport+l4BufLen]
	if e.Hook.IsSockAddr() {
		e.PID = ne.Uint32(rec[logOffPID:])
		e.Comm = strings.TrimRight(string(rec[logOffComm:logOffComm+16]), "\x00")
		e.DstPort = binary.BigEndian.Uint16(trans[2:4])
		if e.L3Proto == ir.EthPIPv6 {
			e.Dst = netip.AddrFrom16([16]byte(netHdr[24:40]))
			if e.Hook.IsSendmsg() {
				e.Src = netip.AddrFrom16([16]byte(netHdr[8:24]))
			}
		} else {
			e.Dst = netip.AddrFrom4([4]byte(netHdr[16:20]))
			if e.Hook.IsSendmsg() {
				e.Src = netip.AddrFrom4([4]byte(netHdr[12:16]))
			}
		}
		return e, nil
	}
	if fl := e.Hook.Flavour(); flags&logFlagWantLink != 0 && (fl == ir.FlavourXDP || fl == ir.FlavourTC) {
		if e.PacketLen >= ethLen {
			e.Link = clone(rec[logOffLink : logOffLink+ethLen])
		}
	}
	if flags&logFlagWantNetwork != 0 && flags&logFlagL3Present != 0 {
		n := 20
		if e.L3Proto == ir.EthPIPv6 {
			n = 40
		}
		e.Network = clone(netHdr[:n])
	}
	if flags&logFlagWantTrans != 0 && flags&logFlagL4Present != 0 {
		e.Transport = clone(trans[:ir.L4HeaderLen(e.L4Proto)])
	}
	return e, nil
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

// String formats the entry as "bfcli chain logs" prints it.
func (e LogEntry) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%s] Rule %d, %s", fmtMono(e.Time), e.Rule, e.Verdict)
	if e.Hook.IsSockAddr() {
		fmt.Fprintf(&b, ", Socket: pid %d (%s)\n", e.PID, e.Comm)
		fmt.Fprintf(&b, "  %-10s: %s port %d\n", "Dst", e.Dst, e.DstPort)
		if e.Src.IsValid() {
			fmt.Fprintf(&b, "  %-10s: %s\n", "Src", e.Src)
		}
		return b.String()
	}
	fmt.Fprintf(&b, ", Packet: %d bytes\n", e.PacketLen)
	if len(e.Link) >= ethLen {
		fmt.Fprintf(&b, "  %-10s: %s → %s type 0x%04x\n", "Ethernet",
			fmtMAC(e.Link[6:12]), fmtMAC(e.Link[0:6]), binary.BigEndian.Uint16(e.Link[12:14]))
	}
	switch {
	case len(e.Network) >= 20 && e.L3Proto == ir.EthPIP:
		fmt.Fprintf(&b, "  %-10s: %s → %s proto %d ttl %d\n", "IPv4",
			netip.AddrFrom4([4]byte(e.Network[12:16])), netip.AddrFrom4([4]byte(e.Network[16:20])), e.Network[9], e.Network[8])
	case len(e.Network) >= 40:
		fmt.Fprintf(&b, "  %-10s: %s → %s nexthdr %d hop %d\n", "IPv6",
			netip.AddrFrom16([16]byte(e.Network[8:24])), netip.AddrFrom16([16]byte(e.Network[24:40])), e.Network[6], e.Network[7])
	}
	t := e.Transport
	switch {
	case len(t) >= 20 && e.L4Proto == ir.ProtoTCP:
		fmt.Fprintf(&b, "  %-10s: %-5d → %-5d [%s]\n", "TCP", binary.BigEndian.Uint16(t[0:2]), binary.BigEndian.Uint16(t[2:4]),
			ir.KindTCPFlags.Format([]byte{t[13]}, nil))
		fmt.Fprintf(&b, "  %-10s  seq=%d ack=%d win=%d\n", "", binary.BigEndian.Uint32(t[4:8]), binary.BigEndian.Uint32(t[8:12]),
			binary.BigEndian.Uint16(t[14:16]))
	case len(t) >= 8 && e.L4Proto == ir.ProtoUDP:
		fmt.Fprintf(&b, "  %-10s: %-5d → %-5d len=%d\n", "UDP", binary.BigEndian.Uint16(t[0:2]), binary.BigEndian.Uint16(t[2:4]),
			binary.BigEndian.Uint16(t[4:6]))
	case len(t) >= 4 && (e.L4Proto == ir.ProtoICMP || e.L4Proto == ir.ProtoICMPv6):
		name := "ICMP"
		if e.L4Proto == ir.ProtoICMPv6 {
			name = "ICMPv6"
		}
		fmt.Fprintf(&b, "  %-10s: type=%d code=%d\n", name, t[0], t[1])
	}
	return b.String()
}

func fmtMono(d time.Duration) string {
	return fmt.Sprintf("%d.%06d", int64(d/time.Second), int64(d%time.Second/time.Microsecond))
}

func fmtMAC(b []byte) string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5])
}
