package backend

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bpfilter-go/bpfilter/internal/testenv"
	"github.com/bpfilter-go/bpfilter/internal/testpkt"
	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/bpfilter-go/bpfilter/optimizer"
	"github.com/bpfilter-go/bpfilter/optimizer/rulegen"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"golang.org/x/sys/unix"
)

// verboseChain builds a chain using every kernel call VerboseBPF checks
// that hook h allows: packet loads, counters (bf_count and the exit
// block), a lookup segment (bf_actions), a rate-limited log (bf_log_rate,
// ring buffer), sets and, on XDP and TC, a redirect.
func verboseChain(tb testing.TB, h ir.Hook, name string) *ir.Chain {
	tb.Helper()
	every := &ir.Log{Headers: ir.LogAll, Every: time.Second}
	if h.IsSockAddr() {
		return &ir.Chain{Name: name, Hook: h, Policy: ir.Verdict{Kind: ir.Accept}, Rules: []*ir.Rule{
			{Log: every, Verdict: ir.Verdict{Kind: ir.Continue}},
			{Log: &ir.Log{}, Verdict: ir.Verdict{Kind: ir.Continue}},
		}}
	}
	c := genChain(tb, rulegen.Config{Kind: rulegen.SourceAddrs, Rules: 100, Seed: 1, Hook: h})
	c.Name = name
	c.Rules = append([]*ir.Rule{
		{Matches: []ir.Match{eqMatch(tb, ir.TCPDport, "22", false)}, Log: every, Verdict: ir.Verdict{Kind: ir.Continue}},
		{Matches: []ir.Match{eqMatch(tb, ir.TCPDport, "23", false)}, Log: &ir.Log{Headers: ir.LogAll}, Verdict: ir.Verdict{Kind: ir.Continue}},
	}, c.Rules...)
	if f := h.Flavour(); f == ir.FlavourXDP || f == ir.FlavourTC {
		c.Rules = append(c.Rules, &ir.Rule{Matches: []ir.Match{eqMatch(tb, ir.TCPDport, "24", false)}, Verdict: ir.Verdict{Kind: ir.Redirect, Ifindex: loIfindex}})
	}
	addSetRules(tb, c)
	return c
}

// TestVerboseOffUnchanged: without VerboseBPF there is no message map and
// no bpf_trace_printk call; with it, there are both, every message is in
// the map at the offset an instruction uses, and removing the verbose
// blocks gives back the instructions compiled without the option.
func TestVerboseOffUnchanged(t *testing.T) {
	kernel, kerr := btf.LoadKernelSpec()
	for _, h := range ir.Hooks() {
		t.Run(h.String(), func(t *testing.T) {
			if h.Flavour() == ir.FlavourNF && kerr != nil {
				t.Skipf("netfilter programs need the kernel's BTF: %v", kerr)
			}
			c := verboseChain(t, h, "vb_off")
			off, err := Compile(c, Options{KernelBTF: kernel})
			if err != nil {
				t.Fatal(err)
			}
			on, err := Compile(c, Options{KernelBTF: kernel, VerboseBPF: true})
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := off.Spec.Maps[VerboseMap]; ok {
				t.Errorf("map %s without VerboseBPF", VerboseMap)
			}
			if n := countPrintk(off.Spec); n != 0 {
				t.Errorf("%d bpf_trace_printk calls without VerboseBPF", n)
			}
			if n := countPrintk(on.Spec); n == 0 {
				t.Errorf("no bpf_trace_printk call with VerboseBPF")
			}
			checkMessages(t, on.Spec)
			checkCalls(t, on.Spec, "vb_off", verboseCalls(h))
			for name, ps := range off.Spec.Programs {
				got := stripVerbose(on.Spec.Programs[name].Instructions)
				want := ps.Instructions
				if len(got) != len(want) {
					t.Fatalf("program %s: %d instructions once verbose blocks are removed, %d without VerboseBPF", name, len(got), len(want))
				}
				for i := range want {
					if got[i].OpCode != want[i].OpCode || got[i].Dst != want[i].Dst || got[i].Src != want[i].Src ||
						got[i].Offset != want[i].Offset || got[i].Constant != want[i].Constant {
						t.Fatalf("program %s: instruction %d is %v with VerboseBPF, %v without", name, i, got[i], want[i])
					}
				}
			}
		})
	}
}

// checkCalls checks that VerboseMap has a message for each call.
func checkCalls(tb testing.TB, spec *ebpf.CollectionSpec, chain string, calls []string) {
	tb.Helper()
	msgs := string(spec.Maps[VerboseMap].Contents[0].Value.([]byte))
	for _, call := range calls {
		if want := VerbosePrefix + chain + ": " + call + " failed"; !strings.Contains(msgs, want) {
			tb.Errorf("no message %q in %q", want, msgs)
		}
	}
}

// verboseCalls are the calls verboseChain makes on hook h.
func verboseCalls(h ir.Hook) []string {
	calls := []string{"bpf_map_lookup_elem (bf_counters)", "bpf_map_lookup_elem (bf_log_rate)", "bpf_ringbuf_reserve (bf_log)"}
	switch h.Flavour() {
	case ir.FlavourXDP:
		calls = append(calls, "bpf_xdp_load_bytes (Ethernet header)", "bpf_xdp_load_bytes (IPv6 extension header)", "bpf_redirect")
	case ir.FlavourTC:
		calls = append(calls, "bpf_skb_load_bytes (Ethernet header)", "bpf_skb_load_bytes (transport header)", "bpf_redirect")
	case ir.FlavourCgroupSkb:
		calls = append(calls, "bpf_skb_load_bytes (network header)", "bpf_skb_load_bytes (transport header)")
	case ir.FlavourNF:
		calls = append(calls, "bpf_dynptr_from_skb", "bpf_dynptr_read (network header)")
	}
	if !h.IsSockAddr() {
		calls = append(calls, "bpf_map_lookup_elem (bf_actions)")
	}
	return calls
}

func countPrintk(spec *ebpf.CollectionSpec) int {
	n := 0
	for _, ps := range spec.Programs {
		for _, in := range ps.Instructions {
			if in.IsBuiltinCall() && in.Constant == int64(asm.FnTracePrintk) {
				n++
			}
		}
	}
	return n
}

// checkMessages checks that each bpf_trace_printk format a program
// points to is a NUL-terminated message of the chain in VerboseMap.
func checkMessages(tb testing.TB, spec *ebpf.CollectionSpec) {
	tb.Helper()
	ms := spec.Maps[VerboseMap]
	if ms == nil || len(ms.Contents) != 1 || ms.Flags&bpfFRdonlyProg == 0 {
		tb.Fatalf("map %s: %+v, want one read-only entry", VerboseMap, ms)
	}
	data := ms.Contents[0].Value.([]byte)
	for _, ps := range spec.Programs {
		insns := ps.Instructions
		for i := 2; i < len(insns); i++ {
			in := insns[i]
			if !in.IsBuiltinCall() || in.Constant != int64(asm.FnTracePrintk) {
				continue
			}
			ld, size := insns[i-2], insns[i-1]
			if ld.Reference() != VerboseMap || ld.Src != asm.PseudoMapValue {
				tb.Fatalf("%s: format pointer %v does not reference %s", ps.Name, ld, VerboseMap)
			}
			off, n := int(uint64(ld.Constant)>>32), int(size.Constant)
			if off+n > len(data) || data[off+n-1] != 0 || bytes.IndexByte(data[off:off+n-1], 0) >= 0 {
				tb.Fatalf("%s: format at %d size %d is not one NUL-terminated string", ps.Name, off, n)
			}
			if msg := string(data[off : off+n-1]); !strings.HasPrefix(msg, VerbosePrefix) || !strings.Contains(msg, " failed") {
				tb.Fatalf("%s: message %q", ps.Name, msg)
			}
		}
	}
}

// stripVerbose removes the instructions VerboseBPF adds: from the jump
// over a message to bpf_trace_printk and the restore of R0 after it, or
// the format, size and call of an unconditional message.
func stripVerbose(insns asm.Instructions) asm.Instructions {
	var out asm.Instructions
	for i := 0; i < len(insns); i++ {
		in := insns[i]
		checked := strings.HasPrefix(in.Reference(), "verbose_ok_")
		if checked || in.Reference() == VerboseMap {
			for !insns[i].IsBuiltinCall() || insns[i].Constant != int64(asm.FnTracePrintk) {
				i++
			}
			if checked {
				i++ // restore of R0
			}
			continue
		}
		out = append(out, in)
	}
	return out
}

// TestVerboseLoadsEveryHook: programs compiled with VerboseBPF load on
// every hook (the verifier accepts the messages and the format map).
func TestVerboseLoadsEveryHook(t *testing.T) {
	testenv.RequireBPF(t)
	for _, h := range ir.Hooks() {
		t.Run(h.String(), func(t *testing.T) {
			l := compileAndLoadOpts(t, verboseChain(t, h, "vb_load"), Options{VerboseBPF: true})
			checkMessages(t, l.prog.Spec)
			checkCalls(t, l.prog.Spec, "vb_load", verboseCalls(h))
		})
	}
}

// compileAndLoadOpts is compileAndLoad with compile options.
func compileAndLoadOpts(tb testing.TB, c *ir.Chain, opts Options) *loaded {
	tb.Helper()
	testenv.RequireBPF(tb)
	p, err := Compile(c, opts)
	if err != nil {
		tb.Fatalf("Compile: %v", err)
	}
	coll, err := ebpf.NewCollection(p.Spec)
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			tb.Fatalf("load chain %s: %+v", c.Name, ve)
		}
		tb.Fatalf("load chain %s: %v", c.Name, err)
	}
	tb.Cleanup(func() { coll.Close() })
	return &loaded{chain: c, prog: p, coll: coll}
}

// TestVerboseTruncatedHeader: a TCP header cut short makes the packet
// load fail; with VerboseBPF the program says so in the trace buffer,
// naming the chain and the call, and the packet still counts as a parse
// error.
func TestVerboseTruncatedHeader(t *testing.T) {
	testenv.RequireBPF(t)
	trace := traceFile(t)
	tcp := testpkt.TCP{Sport: 1, Dport: 2}.Encode()
	frame := testpkt.Ethernet(testpkt.EthIPv4, testpkt.IPv4{Src: testpkt.Addr("198.18.0.1"), Dst: testpkt.Addr("198.18.0.2"), Proto: testpkt.ProtoTCP}.Encode(tcp[:10]))
	calls := map[ir.Flavour]string{
		ir.FlavourXDP:       "bpf_xdp_load_bytes (transport header) failed: -",
		ir.FlavourTC:        "bpf_skb_load_bytes (transport header) failed: -",
		ir.FlavourCgroupSkb: "bpf_skb_load_bytes (transport header) failed: -",
		ir.FlavourNF:        "bpf_dynptr_read (transport header) failed: -",
	}
	for _, h := range []ir.Hook{ir.HookXDP, ir.HookTCIngress, ir.HookCgroupSkbEgress, ir.HookNFLocalOut} {
		t.Run(h.String(), func(t *testing.T) {
			name := uniqueChainName("vbtrunc")
			c := &ir.Chain{Name: name, Hook: h, Policy: ir.Verdict{Kind: ir.Accept}, Rules: []*ir.Rule{
				{Matches: []ir.Match{eqMatch(t, ir.TCPDport, "2", false)}, Verdict: ir.Verdict{Kind: ir.Drop}},
			}}
			l := compileAndLoadOpts(t, c, Options{VerboseBPF: true})
			l.check(t, testPacket{frame: frame})
			if got := l.counters(t)[CounterIndexErrors(1)].Packets; got != 1 {
				t.Errorf("parse errors counted: %d, want 1", got)
			}
			want := VerbosePrefix + name + ": " + calls[h.Flavour()]
			if n := waitTrace(t, trace, want, 1); n != 1 {
				t.Errorf("%d trace lines with %q, want 1", n, want)
			}
		})
	}
}

// TestVerboseRingFull: when the log ring buffer is full, reserving a
// record fails and the program says so once per packet that could not be
// logged.
func TestVerboseRingFull(t *testing.T) {
	testenv.RequireBPF(t)
	trace := traceFile(t)
	name := uniqueChainName("vbring")
	c := &ir.Chain{Name: name, Hook: ir.HookXDP, Policy: ir.Verdict{Kind: ir.Accept}, Rules: []*ir.Rule{
		{Log: &ir.Log{Headers: ir.LogAll}, Verdict: ir.Verdict{Kind: ir.Continue}},
	}}
	l := compileAndLoadOpts(t, c, Options{VerboseBPF: true, LogRingSize: uint32(os.Getpagesize())})
	// A page holds 30 records. Few failures: the kernel's trace buffer
	// is small until something expands it (about 65 such lines per CPU),
	// and older lines are overwritten.
	const runs = 40
	opts, err := runOptions(c.Hook, testPacket{frame: tcp4("198.18.0.1", "198.18.0.2", 1, 2, 0)})
	if err != nil {
		t.Fatal(err)
	}
	opts.Repeat = runs
	if _, err := l.coll.Programs[ProgramName].Run(opts); err != nil {
		t.Fatalf("test run: %v", err)
	}
	logged := len(l.readLogs(t))
	if logged == 0 || logged >= runs {
		t.Fatalf("%d records logged out of %d packets; the test needs a full ring", logged, runs)
	}
	want := VerbosePrefix + name + ": bpf_ringbuf_reserve (bf_log) failed\n"
	if n := waitTrace(t, trace, want, runs-logged); n != runs-logged {
		t.Errorf("%d trace lines with %q, want %d (%d of %d packets logged)", n, want, runs-logged, logged, runs)
	}
}

// uniqueChainName names a chain so that its messages are told apart from
// other programs' in the kernel's shared trace buffer.
func uniqueChainName(prefix string) string {
	return fmt.Sprintf("%s_%d_%d", prefix, os.Getpid(), time.Now().UnixNano()%1e9)
}

// traceFile returns the path of the kernel's trace buffer ("trace", read
// without consuming it, unlike trace_pipe). When tracefs is not mounted,
// the test mounts it in a temporary directory and unmounts it after; it
// never clears the buffer nor changes tracing settings, and skips when
// tracing is off.
func traceFile(tb testing.TB) string {
	tb.Helper()
	testenv.RequireRoot(tb)
	dir := ""
	for _, d := range []string{"/sys/kernel/tracing", "/sys/kernel/debug/tracing"} {
		if _, err := os.Stat(filepath.Join(d, "trace")); err == nil {
			dir = d
			break
		}
	}
	if dir == "" {
		dir = tb.TempDir()
		if err := unix.Mount("tracefs", dir, "tracefs", 0, ""); err != nil {
			tb.Skipf("tracefs is not mounted and cannot be mounted: %v", err)
		}
		tb.Cleanup(func() {
			if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
				tb.Errorf("unmount tracefs %s: %v", dir, err)
			}
		})
	}
	on, err := os.ReadFile(filepath.Join(dir, "tracing_on"))
	if err != nil {
		tb.Fatalf("read tracing_on: %v", err)
	}
	if strings.TrimSpace(string(on)) != "1" {
		tb.Skipf("tracing is off (%s/tracing_on); the test does not turn it on", dir)
	}
	return filepath.Join(dir, "trace")
}

// waitTrace counts the lines of the trace buffer containing want, waiting
// up to two seconds for at least min of them.
func waitTrace(tb testing.TB, trace, want string, min int) int {
	tb.Helper()
	want = strings.TrimSuffix(want, "\n")
	deadline := time.Now().Add(2 * time.Second)
	for {
		data, err := os.ReadFile(trace)
		if err != nil {
			tb.Fatalf("read %s: %v", trace, err)
		}
		n := 0
		for _, line := range strings.Split(string(data), "\n") {
			if strings.Contains(line, want) {
				n++
			}
		}
		if n >= min || time.Now().After(deadline) {
			return n
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestVerboseTailCall: a chain split over tail-called programs says when
// a tail call fails (here, the next program was removed from bf_chunks),
// and the policy applies.
func TestVerboseTailCall(t *testing.T) {
	testenv.RequireBPF(t)
	trace := traceFile(t)
	name := uniqueChainName("vbtail")
	c := genChain(t, rulegen.Config{Kind: rulegen.SourceAddrs, Rules: 2*chunkLinearRules + 10, Seed: 3, Hook: ir.HookXDP})
	c.Name = name
	opts := Options{VerboseBPF: true, Plan: optimizer.Options{Linear: true}}
	off, err := Compile(c, Options{Plan: opts.Plan})
	if err != nil {
		t.Fatal(err)
	}
	l := compileAndLoadOpts(t, c, opts)
	if len(l.prog.Spec.Programs) != 3 {
		t.Fatalf("%d programs, want 3", len(l.prog.Spec.Programs))
	}
	for pn, ps := range off.Spec.Programs {
		if got, want := len(stripVerbose(l.prog.Spec.Programs[pn].Instructions)), len(ps.Instructions); got != want {
			t.Errorf("program %s: %d instructions once verbose blocks are removed, %d without VerboseBPF", pn, got, want)
		}
	}
	checkCalls(t, l.prog.Spec, name, []string{"bpf_tail_call (bf_prog_1)", "bpf_tail_call (bf_prog_2)"})
	if err := l.coll.Maps[ChunksMap].Delete(uint32(1)); err != nil {
		t.Fatalf("remove program 1 from %s: %v", ChunksMap, err)
	}
	// No rule matches the probe: it reaches the tail call.
	p := testPacket{frame: rulegen.DefaultProbe().Packet(true).Data}
	if got, want := l.run(t, p), expectedRet(c.Hook, c.Policy); got != want {
		t.Errorf("program returned %d after a failed tail call, want the policy's %d", got, want)
	}
	want := VerbosePrefix + name + ": bpf_tail_call (bf_prog_1) failed\n"
	if n := waitTrace(t, trace, want, 1); n != 1 {
		t.Errorf("%d trace lines with %q, want 1", n, want)
	}
}

// TestVerboseChainName: chain names cannot inject conversions into the
// format (bpf_trace_printk would read arguments that are not there).
func TestVerboseChainName(t *testing.T) {
	for in, want := range map[string]string{
		"INPUT":                  "INPUT",
		"100%s":                  "100%%s",
		"a\nb\x00c\x7f":          "a?b?c?",
		strings.Repeat("x", 100): strings.Repeat("x", maxVerboseChainName),
	} {
		if got := verboseChainName(in); got != want {
			t.Errorf("verboseChainName(%q) = %q, want %q", in, got, want)
		}
	}
	v := newVerboseMessages("50%d", Options{VerboseBPF: true})
	off, size := v.message("bpf_redirect", true)
	if got := string(v.data[off : off+uint32(size)]); got != VerbosePrefix+"50%%d: bpf_redirect failed: %lld\n\x00" {
		t.Errorf("format %q", got)
	}
	if off2, _ := v.message("bpf_redirect", true); off2 != off {
		t.Errorf("the same message was added twice (offsets %d and %d)", off, off2)
	}
	if newVerboseMessages("x", Options{}) != nil {
		t.Error("messages without VerboseBPF")
	}
}

// TestVerboseUserChains: chains with inlined user chains compile with
// VerboseBPF and load.
func TestVerboseUserChains(t *testing.T) {
	testenv.RequireBPF(t)
	for _, h := range []ir.Hook{ir.HookNFLocalIn, ir.HookTCIngress, ir.HookXDP} {
		rs := userChainRuleset(t, h)
		p, err := CompileInRuleset(rs, rs.Chains[0], Options{VerboseBPF: true})
		if err != nil {
			t.Fatalf("%s: %v", h, err)
		}
		checkMessages(t, p.Spec)
		coll, err := ebpf.NewCollection(p.Spec)
		if err != nil {
			var ve *ebpf.VerifierError
			if errors.As(err, &ve) {
				t.Fatalf("%s: load: %+v", h, ve)
			}
			t.Fatalf("%s: load: %v", h, err)
		}
		coll.Close()
	}
}
