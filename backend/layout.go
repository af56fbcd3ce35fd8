package backend

import "github.com/cilium/ebpf/asm"

// Registers kept alive across helper calls for the whole program.
const (
	// regCtx holds the program context.
	regCtx = asm.R6
	// regL3 holds the EtherType (low 16 bits) and l3Present.
	regL3 = asm.R7
	// regL4 holds the L4 protocol (low 8 bits), l4Known and l4Present.
	regL4 = asm.R8
	// regLen holds the packet length the counters add.
	regLen = asm.R9
)

// Parse state bits in regL3 and regL4.
const (
	l3Present = 1 << 16
	l4Known   = 1 << 8
	l4Present = 1 << 9
)

// Stack layout, as offsets from R10. Every buffer is 8-byte aligned so that
// natural-size loads of header fields are aligned, as the verifier requires
// for stack accesses.
const (
	stackDynptr   = -16  // struct bpf_dynptr (netfilter)
	stackEth      = -32  // Ethernet header, 14 bytes used
	stackL3       = -72  // IPv4 (20 bytes) or IPv6 (40 bytes) header
	stackL4       = -96  // transport header, up to 20 bytes
	stackExt      = -104 // current IPv6 extension header, 8 bytes
	stackScratch  = -112 // counter key, temporaries
	stackRedirect = -108 // REDIRECT interface for the exit block
	stackOff      = -120 // offset of the next header during parsing
	stackTime     = -128 // log timestamp
	stackRing     = -136 // reserved log record pointer
	stackKey      = -136 // set keys grow down from here (see keyOffset)
	// maxKeyWidth bounds set keys so that they fit on the stack.
	maxKeyWidth = 256
)

// Sizes of the header buffers.
const (
	ethLen    = 14
	l3BufLen  = 40
	l4BufLen  = 20
	ethBufLen = 16
	l4BufCap  = 24
)

// keyOffset returns the stack offset of a set key buffer of width bytes.
func keyOffset(width int) int16 {
	w := (width + 7) &^ 7
	return int16(stackKey - w)
}
