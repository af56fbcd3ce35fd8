package abi

// Sizes and offsets of the kernel structs, for x86-64 and every other
// 64-bit Linux ABI (u64 counters aligned to 8). They are checked against
// the uapi headers by TestLayoutMatchesHeaders.
const (
	// TableNameLen is XT_TABLE_MAXNAMELEN (linux/netfilter/x_tables.h).
	TableNameLen = 32
	// ExtNameLen is XT_EXTENSION_MAXNAMELEN: match and target names.
	ExtNameLen = 29
	// FunctionNameLen is XT_FUNCTION_MAXNAMELEN: ERROR target chain names.
	FunctionNameLen = 30
	// IfNameLen is IFNAMSIZ.
	IfNameLen = 16
	// NumHooks is NF_INET_NUMHOOKS.
	NumHooks = 5

	// Align is the alignment of entries, matches and targets (XT_ALIGN,
	// the alignment of struct _xt_align: 8 on 64-bit ABIs).
	Align = 8

	// CountersSize is sizeof(struct xt_counters).
	CountersSize = 16

	// IPv4HeaderSize is sizeof(struct ipt_ip).
	IPv4HeaderSize = 84
	// IPv4EntrySize is sizeof(struct ipt_entry).
	IPv4EntrySize = 112
	// IPv6HeaderSize is sizeof(struct ip6t_ip6).
	IPv6HeaderSize = 136
	// IPv6EntrySize is sizeof(struct ip6t_entry).
	IPv6EntrySize = 168

	// ExtHeaderSize is sizeof(struct xt_entry_match) and
	// sizeof(struct xt_entry_target).
	ExtHeaderSize = 32
	// StandardTargetSize is XT_ALIGN(sizeof(struct xt_standard_target)).
	StandardTargetSize = 40
	// ErrorTargetSize is XT_ALIGN(sizeof(struct xt_error_target)).
	ErrorTargetSize = 64

	// GetInfoSize is sizeof(struct ipt_getinfo) (same for ip6t).
	GetInfoSize = 84
	// GetEntriesHeaderSize is sizeof(struct ipt_get_entries) (same for ip6t).
	GetEntriesHeaderSize = 40
	// ReplaceHeaderSize is sizeof(struct ipt_replace) (same for ip6t).
	ReplaceHeaderSize = 96
	// CountersInfoHeaderSize is sizeof(struct xt_counters_info).
	CountersInfoHeaderSize = 40
)

// Offsets inside ipt_entry / ip6t_entry after the ip part.
const (
	v4OffNFCache      = 84
	v4OffTargetOffset = 88
	v4OffNextOffset   = 90
	v4OffComeFrom     = 92
	v4OffCounters     = 96

	v6OffNFCache      = 136
	v6OffTargetOffset = 140
	v6OffNextOffset   = 142
	v6OffComeFrom     = 144
	v6OffCounters     = 152
)

// Socket option numbers (IPT_BASE_CTL = 64) for IPPROTO_IP (SOL_IP) and
// IPPROTO_IPV6 (SOL_IPV6); the ip6t values are the same numbers except
// for the revision queries.
const (
	SoSetReplace        = 64
	SoSetAddCounters    = 65
	SoGetInfo           = 64
	SoGetEntries        = 65
	SoGetRevisionMatch  = 66
	SoGetRevisionTarget = 67
	// So6GetRevisionMatch and So6GetRevisionTarget are the ip6t revision
	// queries (IP6T_BASE_CTL + 4 and + 5).
	So6GetRevisionMatch  = 68
	So6GetRevisionTarget = 69
	RevisionRequestSize  = 30 // sizeof(struct xt_get_revision)
)

// Netfilter verdicts (linux/netfilter.h).
const (
	NFDrop   = 0
	NFAccept = 1
	NFStolen = 2
	NFQueue  = 3
	NFRepeat = 4
	NFStop   = 5
	// NFMaxVerdict is NF_MAX_VERDICT.
	NFMaxVerdict = NFStop
)

// Standard target verdicts as stored in xt_standard_target.verdict: a
// negative value is -NF_x-1, XT_RETURN is -NF_REPEAT-1, a non-negative
// value is a byte offset to jump to.
const (
	VerdictDrop   int32 = -NFDrop - 1
	VerdictAccept int32 = -NFAccept - 1
	VerdictQueue  int32 = -NFQueue - 1
	VerdictReturn int32 = -NFRepeat - 1
)

// Flags of ipt_ip.flags / ip6t_ip6.flags.
const (
	// FlagFragment is IPT_F_FRAG (IPv4 only): match second and further
	// fragments.
	FlagFragment = 0x01
	// FlagGoto is IPT_F_GOTO / IP6T_F_GOTO: the standard target is a goto.
	FlagGoto = 0x02
	// FlagV6Proto is IP6T_F_PROTO: the proto field is set (IPv6 only).
	FlagV6Proto = 0x01
	// FlagV6TOS is IP6T_F_TOS (IPv6 only).
	FlagV6TOS = 0x02
	// FlagV6Goto is IP6T_F_GOTO.
	FlagV6Goto = 0x04
)

// Inverse flags of ipt_ip.invflags / ip6t_ip6.invflags.
const (
	InvVIAIn  = 0x01
	InvVIAOut = 0x02
	InvTOS    = 0x04 // IPT_INV_TOS / IP6T_INV_TOS
	InvSrcIP  = 0x08
	InvDstIP  = 0x10
	InvFrag   = 0x20 // IPv4 only
	InvProto  = 0x40
	InvMask   = 0x7f // IPT_INV_MASK
	InvMaskV6 = 0x7f // IP6T_INV_MASK
)

// alignUp rounds n up to Align.
func alignUp(n int) int { return (n + Align - 1) &^ (Align - 1) }

// AlignUp rounds n up to the XT_ALIGN boundary.
func AlignUp(n int) int { return alignUp(n) }
