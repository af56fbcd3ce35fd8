package backend

import (
	"bytes"
	"strings"

	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// Options.VerboseBPF (bpfilter --verbose=bpf): after each kernel call whose
// failure the program handles, the program calls bpf_trace_printk with a
// message naming the chain, the call and its return value, readable with
// "bpftool prog tracelog". The format strings live in the read-only array
// map VerboseMap (one entry, the NUL-terminated strings one after the
// other): bpf_trace_printk takes a pointer to its format, and a map value
// costs one instruction where building the string on the stack would cost
// many, and stack the program does not have. Without VerboseBPF nothing of
// this is emitted and the program is unchanged.

// VerboseMap is the map of the format strings of Options.VerboseBPF.
const VerboseMap = "bf_messages"

// VerbosePrefix starts every message of Options.VerboseBPF; the chain
// name follows ("bpfilter: chain NAME: CALL failed: RET").
const VerbosePrefix = "bpfilter: chain "

// stackVerbose keeps R0 while bpf_trace_printk runs: below the lookup
// segments' slots (the lowest, stackClasses, starts at -480), within the
// 512-byte stack.
const stackVerbose = -488

// bpfFRdonlyProg is BPF_F_RDONLY_PROG: the program may only read the map.
const bpfFRdonlyProg = 1 << 7

// maxVerboseChainName bounds the chain name in messages: bpf_trace_printk
// prints at most 512 bytes.
const maxVerboseChainName = 64

// verboseMessages is the string table of one compiled chain, shared by all
// its programs (chunks).
type verboseMessages struct {
	chain string // escaped for the format
	data  []byte
	at    map[string]uint32
}

// newVerboseMessages returns the string table for chain, nil when opts do
// not ask for messages.
func newVerboseMessages(chain string, opts Options) *verboseMessages {
	if !opts.VerboseBPF {
		return nil
	}
	return &verboseMessages{chain: verboseChainName(chain), at: map[string]uint32{}}
}

// verboseChainName makes a chain name safe inside a format string: '%'
// doubled, control bytes and NUL replaced, length bounded.
func verboseChainName(name string) string {
	if len(name) > maxVerboseChainName {
		name = name[:maxVerboseChainName]
	}
	var sb strings.Builder
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c == '%':
			sb.WriteString("%%")
		case c < 0x20 || c == 0x7f:
			sb.WriteByte('?')
		default:
			sb.WriteByte(c)
		}
	}
	return sb.String()
}

// message returns the offset and size (with its NUL) of the format for
// call, adding it to the table the first time. With value the format
// prints the return value.
func (v *verboseMessages) message(call string, value bool) (uint32, int32) {
	f := VerbosePrefix + v.chain + ": " + call + " failed"
	if value {
		f += ": %lld"
	}
	f += "\n"
	off, ok := v.at[f]
	if !ok {
		off = uint32(len(v.data))
		v.at[f] = off
		v.data = append(v.data, f...)
		v.data = append(v.data, 0)
	}
	return off, int32(len(f) + 1)
}

// mapSpec is the read-only map holding the table.
func (v *verboseMessages) mapSpec() *ebpf.MapSpec {
	data := bytes.Clone(v.data)
	if len(data) == 0 {
		data = []byte{0}
	}
	return &ebpf.MapSpec{
		Name:       VerboseMap,
		Type:       ebpf.Array,
		KeySize:    4,
		ValueSize:  uint32(len(data)),
		MaxEntries: 1,
		Flags:      bpfFRdonlyProg,
		Contents:   []ebpf.MapKV{{Key: uint32(0), Value: data}},
	}
}

// addVerboseMap adds VerboseMap to spec when the chain prints messages.
func (g *gen) addVerboseMap(spec *ebpf.CollectionSpec) {
	if g.verbose != nil {
		spec.Maps[VerboseMap] = g.verbose.mapSpec()
	}
}

// failure says how a call's failure shows in R0.
type failure int

const (
	// failNonZero: R0 is 0 on success, a negative error otherwise.
	failNonZero failure = iota
	// failNull: R0 is a pointer, NULL on failure.
	failNull
	// failAlways: the call only returns when it failed (bpf_tail_call).
	failAlways
)

// verboseCall emits, right after a call, the message printed when the
// call failed (nothing without Options.VerboseBPF). R0 is unchanged
// afterwards, so the caller's own failure check follows as usual; R1-R5
// are clobbered on the failure path only, where they are dead already
// since the call itself clobbered them.
func (g *gen) verboseCall(call string, how failure) {
	g.verboseCallCode(call, how, 0)
}

// verboseCallCode is verboseCall for failures shown as R0 != okCode
// (failNonZero with another success value, such as bpf_redirect's).
func (g *gen) verboseCallCode(call string, how failure, okCode int32) {
	if g.verbose == nil {
		return
	}
	b := g.b
	ok := ""
	if how != failAlways {
		ok = b.fresh("verbose_ok")
	}
	switch how {
	case failNonZero:
		b.emit(asm.JEq.Imm(asm.R0, okCode, ok))
	case failNull:
		b.emit(asm.JNE.Imm(asm.R0, 0, ok))
	}
	value := how == failNonZero
	off, size := g.verbose.message(call, value)
	if value {
		b.emit(
			asm.StoreMem(asm.R10, stackVerbose, asm.R0, asm.DWord),
			asm.Mov.Reg(asm.R3, asm.R0),
		)
	}
	b.emit(
		asm.LoadMapValue(asm.R1, 0, off).WithReference(VerboseMap),
		asm.Mov.Imm(asm.R2, size),
		asm.FnTracePrintk.Call(),
	)
	switch how {
	case failNonZero:
		b.emit(asm.LoadMem(asm.R0, asm.R10, stackVerbose, asm.DWord))
	case failNull:
		b.emit(asm.Mov.Imm(asm.R0, 0))
	}
	if ok != "" {
		b.label(ok)
	}
}

// loadedHeader names the header a packet load at stack offset dst copies.
func loadedHeader(dst int16) string {
	switch dst {
	case stackEth:
		return "Ethernet header"
	case stackL3:
		return "network header"
	case stackExt:
		return "IPv6 extension header"
	case stackL4:
		return "transport header"
	}
	return "packet data"
}

// redirectCode is bpf_redirect's return value on success: XDP_REDIRECT
// or TC_ACT_REDIRECT.
func (g *gen) redirectCode() int32 {
	if g.fl == ir.FlavourXDP {
		return xdpRedirect
	}
	return tcActRedirect
}

// Return values of bpf_redirect on success, from the uapi header
// linux/bpf.h and linux/pkt_cls.h.
const (
	xdpRedirect   = 4 // XDP_REDIRECT
	tcActRedirect = 7 // TC_ACT_REDIRECT
)
