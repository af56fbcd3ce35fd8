package bpf_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"

	"github.com/bpfilter-go/bpfilter/bpf"
	"github.com/bpfilter-go/bpfilter/internal/testenv"
)

func init() {
	testenv.RegisterHelper("token-child", tokenChild)
}

// TestTokenDelegation runs the test binary in a new user and mount
// namespace, where it has no BPF privilege, and gives it a bpffs that
// delegates map creation, program loading, array maps and XDP programs.
// The child must get a token from it, load an XDP collection with it, and
// be told by name that TC programs and hash maps are not delegated.
//
// The delegation protocol is the kernel's: the child creates the bpffs
// context (fsopen) so that the file system belongs to its user namespace;
// the privileged parent sets the delegate_* options and creates the
// superblock; the child mounts it in its private mount namespace.
func TestTokenDelegation(t *testing.T) {
	testenv.RequireBPF(t)
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], dir)
	cmd.Env = append(os.Environ(), testenv.HelperEnv("token-child"))
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}},
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot start a process in a new user namespace: %v", err)
	}
	defer func() {
		_ = stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("token child: %v\n%s", err, stderr.String())
		}
	}()
	out := bufio.NewReader(stdout)
	line, err := out.ReadString('\n')
	if err != nil {
		t.Fatalf("token child said nothing: %v\n%s", err, stderr.String())
	}
	if strings.HasPrefix(line, "skip ") {
		t.Skip(strings.TrimSpace(line))
	}
	childFD, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(line), "fsfd "))
	if err != nil {
		t.Fatalf("token child: %q", line)
	}
	pidfd, err := unix.PidfdOpen(cmd.Process.Pid, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pidfd)
	fsfd, err := unix.PidfdGetfd(pidfd, childFD, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fsfd)
	for _, o := range [][2]string{
		{"delegate_cmds", "map_create:prog_load:btf_load"},
		{"delegate_maps", "array"},
		{"delegate_progs", "xdp"},
		{"delegate_attachs", "any"},
	} {
		if err := unix.FsconfigSetString(fsfd, o[0], o[1]); err != nil {
			t.Fatalf("bpffs option %s=%s: %v", o[0], o[1], err)
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		t.Fatalf("create delegating bpffs: %v", err)
	}
	if _, err := fmt.Fprintln(stdin, "ok"); err != nil {
		t.Fatal(err)
	}
	rest, _ := out.ReadString(0)
	t.Log(rest)
	if !strings.Contains(rest, "token: ok") {
		t.Errorf("token child output: %s\nstderr: %s", rest, stderr.String())
	}
}

// tokenChild is the unprivileged side of TestTokenDelegation; args[0] is
// the directory to mount the delegating bpffs on.
func tokenChild(args []string) error {
	fsfd, err := unix.Fsopen("bpf", unix.FSOPEN_CLOEXEC)
	if err != nil {
		fmt.Printf("skip bpffs cannot be created in a user namespace: %v\n", err)
		return nil
	}
	fmt.Printf("fsfd %d\n", fsfd)
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		return fmt.Errorf("wait for the parent: %w", err)
	}
	mnt, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("fsmount: %w", err)
	}
	if err := unix.MoveMount(mnt, "", unix.AT_FDCWD, args[0], unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("move_mount: %w", err)
	}
	tok, err := bpf.NewToken(args[0])
	if err != nil {
		return err
	}
	defer tok.Close()

	prog := func(typ ebpf.ProgramType) *ebpf.ProgramSpec {
		return &ebpf.ProgramSpec{Type: typ, License: "GPL", Instructions: asm.Instructions{
			asm.LoadMapPtr(asm.R1, 0).WithReference("m"),
			asm.Mov.Imm(asm.R0, 2),
			asm.Return(),
		}}
	}
	spec := func(mt ebpf.MapType, pt ebpf.ProgramType) *ebpf.CollectionSpec {
		return &ebpf.CollectionSpec{
			Maps:     map[string]*ebpf.MapSpec{"m": {Type: mt, KeySize: 4, ValueSize: 8, MaxEntries: 1}},
			Programs: map[string]*ebpf.ProgramSpec{"p": prog(pt)},
		}
	}
	coll, err := bpf.Load(spec(ebpf.Array, ebpf.XDP), bpf.LoadOptions{Token: tok})
	if err != nil {
		return fmt.Errorf("load with a delegating token: %w", err)
	}
	coll.Close()
	for _, bad := range []*ebpf.CollectionSpec{spec(ebpf.Array, ebpf.SchedCLS), spec(ebpf.Hash, ebpf.XDP)} {
		_, err := bpf.Load(bad, bpf.LoadOptions{Token: tok})
		if !errors.Is(err, bpf.ErrTokenDenied) {
			return fmt.Errorf("load of an undelegated type: got %v, want bpf.ErrTokenDenied", err)
		}
		fmt.Println("refused:", err)
	}
	// Without the token the same map cannot be created: the child has no
	// BPF privilege of its own, so the loads above used the token.
	attr := struct{ typ, key, value, max uint32 }{uint32(ebpf.Array), 4, 8, 1}
	fd, _, errno := unix.Syscall(unix.SYS_BPF, 0 /* BPF_MAP_CREATE */, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
	if errno == 0 {
		unix.Close(int(fd))
		return errors.New("the child creates maps without a token: the test proves nothing")
	}
	fmt.Println("without token:", errno)
	fmt.Println("token: ok")
	return nil
}
