package daemon

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bpfilter-go/bpfilter/daemon/client"
	"github.com/bpfilter-go/bpfilter/daemon/proto"
	"github.com/bpfilter-go/bpfilter/internal/testenv"
)

// The BPF token test runs the daemon as root of a new user namespace, with
// a bpffs created in that namespace and given delegation options by the
// privileged test process (the kernel only accepts delegate_* options from
// a process privileged in the initial user namespace, on a bpffs created in
// the user namespace that will use the token):
//
//	child (new user, mount, network namespaces)   test process (root)
//	fsopen("bpf") ──────── fd over a socket ────►  fsconfig delegate_*=any
//	                                               FSCONFIG_CMD_CREATE, fsmount
//	move_mount onto DIR ◄── mount fd ────────────
//	bpfilter --with-bpf-token --bpffs-path DIR

// tokenChild is the child's side; it runs when the test binary is started
// with mainEnv=tokend. fd 3 is the socket to the parent; args are the
// mount point followed by the daemon's arguments.
func tokenChild(args []string) int {
	sock := os.NewFile(3, "parent")
	fail := func(err error) int {
		fmt.Fprintf(os.Stderr, "token child: %v\n", err)
		return 3
	}
	fsfd, err := unix.Fsopen("bpf", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return fail(fmt.Errorf("fsopen bpf: %w", err))
	}
	if err := sendFD(sock, fsfd); err != nil {
		return fail(err)
	}
	mfd, err := recvFD(sock)
	if err != nil {
		return fail(err)
	}
	if err := unix.MoveMount(mfd, "", unix.AT_FDCWD, args[0], unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fail(fmt.Errorf("move_mount: %w", err))
	}
	unix.Close(mfd)
	unix.Close(fsfd)
	sock.Close()
	return Main(append([]string{"--bpffs-path", args[0]}, args[1:]...), os.Stdout, os.Stderr)
}

func sendFD(f *os.File, fd int) error {
	if err := unix.Sendmsg(int(f.Fd()), []byte{0}, unix.UnixRights(fd), nil, 0); err != nil {
		return fmt.Errorf("sending fd: %w", err)
	}
	return nil
}

func recvFD(f *os.File) (int, error) {
	oob := make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := unix.Recvmsg(int(f.Fd()), make([]byte, 1), oob, 0)
	if err != nil {
		return -1, fmt.Errorf("receiving fd: %w", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return -1, fmt.Errorf("receiving fd: bad control message: %v", err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return -1, fmt.Errorf("receiving fd: %v", err)
	}
	return fds[0], nil
}

func TestE2EBPFToken(t *testing.T) {
	requireE2E(t)
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	parent, child := os.NewFile(uintptr(fds[0]), "parent"), os.NewFile(uintptr(fds[1]), "child")
	defer parent.Close()
	dir := mkdirPublic(t)
	mnt, run := filepath.Join(dir, "bpffs"), filepath.Join(dir, "run")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], mnt, "--with-bpf-token", "-t", "--no-iptables", "--runtime-dir", run)
	cmd.Env = append(os.Environ(), mainEnv+"=tokend")
	cmd.ExtraFiles = []*os.File{child}
	out := &syncBuf{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS | syscall.CLONE_NEWNET,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}},
	}
	if err := cmd.Start(); err != nil {
		testenv.RequireFeature(t, "user namespaces", err, syscall.EPERM)
		t.Fatal(err)
	}
	child.Close()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-exited
			}
		}
	})
	fsfd, err := recvFD(parent)
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for _, opt := range []string{"delegate_cmds", "delegate_maps", "delegate_progs", "delegate_attachs"} {
		if err := unix.FsconfigSetString(fsfd, opt, "any"); err != nil {
			testenv.RequireFeature(t, "bpffs delegation (BPF token)", err, unix.EINVAL)
			t.Fatalf("fsconfig %s: %v", opt, err)
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		t.Fatalf("fsconfig create: %v", err)
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("fsmount: %v", err)
	}
	if err := sendFD(parent, mfd); err != nil {
		t.Fatal(err)
	}
	unix.Close(mfd)
	unix.Close(fsfd)

	// The socket is reachable from the test: it lives in a directory of
	// the host's mount namespace.
	var c *client.Client
	for deadline := time.Now().Add(20 * time.Second); c == nil; {
		select {
		case err := <-exited:
			t.Fatalf("daemon with --with-bpf-token exited (%v): %s", err, out)
		default:
		}
		if cl, err := client.Dial(run); err == nil {
			c = cl
		} else if time.Now().After(deadline) {
			t.Fatalf("daemon not ready: %s", out)
		} else {
			time.Sleep(20 * time.Millisecond)
		}
	}
	defer c.Close()
	// Act as a client inside the daemon's namespaces: the request loads
	// a program and creates maps with the token.
	bf := exec.Command("nsenter", "-t", fmt.Sprint(cmd.Process.Pid), "-U", "-n", "--preserve-credentials",
		os.Args[0], "--runtime-dir", run, "chain", "load", "-s", "chain tok BF_HOOK_XDP ACCEPT rule ip4.proto icmp counter DROP")
	bf.Env = append(os.Environ(), mainEnv+"=bfcli")
	if b, err := bf.CombinedOutput(); err != nil {
		t.Fatalf("chain load through the token daemon: %v: %s\ndaemon: %s", err, b, out)
	}
	r, err := c.Do(&proto.Request{Front: "cli", Cmd: proto.CmdChainGet, Name: "tok"})
	if err != nil || len(r.Chains) != 1 || r.Chains[0].Counters == nil {
		t.Fatalf("chain get: %v %+v", err, r)
	}
	if !strings.Contains(out.String(), "BPF token created") {
		t.Fatalf("the daemon did not create a token: %s", out)
	}
	t.Logf("daemon in a user namespace:\n%s", out)
	cmd.Process.Signal(syscall.SIGTERM)
	if err := <-exited; err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) || !strings.Contains(out.String(), "stopping") {
			t.Fatalf("daemon exit: %v: %s", err, out)
		}
	}
}
