package bpf_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"

	"github.com/bpfilter-go/bpfilter/bpf"
	"github.com/bpfilter-go/bpfilter/internal/testenv"
	"github.com/bpfilter-go/bpfilter/ir"
)

func TestLoadShowsVerifierLog(t *testing.T) {
	testenv.RequireBPF(t)
	spec := &ebpf.CollectionSpec{Programs: map[string]*ebpf.ProgramSpec{
		"bf_prog": {
			Type:    ebpf.XDP,
			License: "GPL",
			// Reads r2, which is never written: the verifier refuses.
			Instructions: asm.Instructions{
				asm.Mov.Reg(asm.R0, asm.R2),
				asm.Return(),
			},
		},
	}}
	_, err := bpf.Load(spec, bpf.LoadOptions{})
	if err == nil {
		t.Fatal("loading a program reading an uninitialised register succeeded")
	}
	var le *bpf.LoadError
	if !errors.As(err, &le) {
		t.Fatalf("error is %T, want *bpf.LoadError: %v", err, err)
	}
	var ve *ebpf.VerifierError
	if !errors.As(err, &ve) {
		t.Fatalf("error does not wrap *ebpf.VerifierError: %v", err)
	}
	if le.Program != "bf_prog" {
		t.Errorf("failed program = %q, want bf_prog", le.Program)
	}
	for _, s := range []string{le.Log, err.Error()} {
		if !strings.Contains(s, "R2 !read_ok") {
			t.Errorf("verifier log missing the reason, got:\n%s", s)
		}
	}
}

func TestLoadVerboseKeepsLog(t *testing.T) {
	coll, err := bpf.Load(countingSpec(t, ir.HookXDP), bpf.LoadOptions{Verbose: true, LogSizePow: 16})
	if err != nil {
		t.Fatal(err)
	}
	defer coll.Close()
	log := coll.Programs["v1"].VerifierLog
	if !strings.Contains(log, "processed") {
		t.Errorf("verbose load kept no verifier statistics: %q", log)
	}
	quiet := loadCounting(t, ir.HookXDP)
	if l := quiet.Programs["v1"].VerifierLog; l != "" {
		t.Errorf("non-verbose load kept a log: %q", l)
	}
}

func TestLoadNilSpec(t *testing.T) {
	if _, err := bpf.Load(nil, bpf.LoadOptions{}); err == nil {
		t.Fatal("Load(nil) succeeded")
	}
}

// TestTokenRefusedInInitialUserNamespace checks that the token error names
// the reason. The kernel issues tokens only inside a user namespace that
// owns the bpffs; the test process runs in the initial one.
func TestTokenRefusedInInitialUserNamespace(t *testing.T) {
	testenv.RequireBPF(t)
	fs := testenv.NewBPFFS(t)
	tok, err := bpf.NewToken(fs)
	if err == nil {
		tok.Close()
		t.Skip("the kernel issued a token in this namespace; nothing to refuse")
	}
	if errors.Is(err, unix.EINVAL) {
		t.Skipf("kernel lacks BPF tokens: %v", err)
	}
	if !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.EPERM) && !errors.Is(err, unix.ENOENT) {
		t.Fatalf("unexpected token error: %v", err)
	}
	if !strings.Contains(err.Error(), "(") {
		t.Errorf("token error gives no hint: %v", err)
	}
	if _, err := bpf.NewToken(t.TempDir() + "/missing"); err == nil {
		t.Error("token from a missing path succeeded")
	}
}
