// Package testenv holds helpers for tests that need root, kernel features,
// network namespaces, veth pairs, private bpffs mounts and test cgroups.
//
// Every helper registers its cleanup with t.Cleanup, so resources are
// released also when the test fails. Nothing here touches the host's own
// network namespace, firewall, links or the root of /sys/fs/bpf.
package testenv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// RequireRoot skips the test unless it runs as root.
func RequireRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("test needs root (euid 0)")
	}
}

// RequireCommand skips the test unless the named program is in $PATH.
func RequireCommand(tb testing.TB, name string) {
	tb.Helper()
	if _, err := exec.LookPath(name); err != nil {
		tb.Skipf("test needs the %q command: %v", name, err)
	}
}

// RequireBPF skips the test unless the process is root and the kernel
// accepts a trivial BPF program (BPF_PROG_LOAD of a socket filter).
func RequireBPF(tb testing.TB) {
	tb.Helper()
	RequireRoot(tb)
	if runtime.GOOS != "linux" {
		tb.Skipf("test needs Linux BPF, running on %s", runtime.GOOS)
	}
	if err := probeBPF(); err != nil {
		tb.Skipf("test needs BPF: %v", err)
	}
}

// RequireFeature skips the test when err reports that the kernel lacks the
// named feature (errors.Is(err, unsupported)), and fails it when err is any
// other error: a probe that breaks must not hide a test.
func RequireFeature(tb testing.TB, feature string, err error, unsupported error) {
	tb.Helper()
	if err == nil {
		return
	}
	if unsupported != nil && errors.Is(err, unsupported) {
		tb.Skipf("kernel lacks %s: %v", feature, err)
	}
	tb.Fatalf("probing %s: %v", feature, err)
}

// probeInsns is "mov64 r0, 0; exit". It and probeLicense are package
// variables so their addresses are stable while the kernel reads them.
var (
	probeInsns   = [2]uint64{0x00000000000000b7, 0x0000000000000095}
	probeLicense = [4]byte{'G', 'P', 'L', 0}
)

// probeBPF loads probeInsns as a socket filter with the raw syscall.
func probeBPF() error {
	insns, license := &probeInsns, &probeLicense
	// union bpf_attr, BPF_PROG_LOAD variant: prog_type, insn_cnt, insns,
	// license, then zeroed log fields.
	var attr [128]byte
	*(*uint32)(unsafe.Pointer(&attr[0])) = 1 // BPF_PROG_TYPE_SOCKET_FILTER
	*(*uint32)(unsafe.Pointer(&attr[4])) = uint32(len(insns))
	*(*uint64)(unsafe.Pointer(&attr[8])) = uint64(uintptr(unsafe.Pointer(&insns[0])))
	*(*uint64)(unsafe.Pointer(&attr[16])) = uint64(uintptr(unsafe.Pointer(&license[0])))
	fd, _, errno := unix.Syscall(unix.SYS_BPF, 5 /* BPF_PROG_LOAD */, uintptr(unsafe.Pointer(&attr[0])), unsafe.Sizeof(attr))
	if errno != 0 {
		return fmt.Errorf("BPF_PROG_LOAD of a trivial socket filter: %w", errno)
	}
	return unix.Close(int(fd))
}
