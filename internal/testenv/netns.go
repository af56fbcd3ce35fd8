package testenv

import (
	"bytes"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// Netns is a network namespace created for one test, with a unique name
// under /run/netns. Its loopback interface is up.
type Netns struct {
	// Name is the name "ip netns" knows the namespace by.
	Name string
	// Path is the namespace file (/run/netns/<Name>).
	Path string
}

// NewNetns creates a network namespace with a unique name and deletes it
// when the test ends.
func NewNetns(tb testing.TB) *Netns {
	tb.Helper()
	RequireRoot(tb)
	RequireCommand(tb, "ip")
	sweepStale(tb.Logf)
	name, err := uniqueName("bft-")
	if err != nil {
		tb.Fatal(err)
	}
	unmark, err := recordResource(kindNetns, name)
	if err != nil {
		tb.Fatal(err)
	}
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		unmark()
		tb.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	n := &Netns{Name: name, Path: filepath.Join("/run/netns", name)}
	tb.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			tb.Errorf("ip netns del %s: %v: %s", name, err, out)
			return
		}
		unmark()
	})
	n.Exec(tb, "ip", "link", "set", "lo", "up")
	return n
}

// Do runs fn on an OS thread that has joined the namespace, and returns
// fn's error. The thread is locked for the whole call; it leaves the
// namespace before being unlocked, and if that fails the thread is never
// unlocked, so the Go runtime destroys it instead of reusing it. fn runs on
// another goroutine: it must not call t.Fatal. Sockets and BPF links
// created inside fn stay bound to the namespace.
func (n *Netns) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("open current netns: %w", err)
			return
		}
		defer unix.Close(orig)
		target, err := unix.Open(n.Path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("open netns %s: %w", n.Name, err)
			return
		}
		defer unix.Close(target)
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("setns into %s: %w", n.Name, err)
			return
		}
		var ferr error
		func() {
			defer func() {
				if r := recover(); r != nil {
					ferr = fmt.Errorf("panic inside netns %s: %v", n.Name, r)
				}
			}()
			ferr = fn()
		}()
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			// Leave the thread locked: it dies with this goroutine.
			errc <- fmt.Errorf("restore netns after %s: %w (fn: %v)", n.Name, err, ferr)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// Run runs a command inside the namespace with "ip netns exec" and returns
// its combined output. "ip netns exec" mounts a sysfs of the namespace on
// /sys for the command, so the command does not see the host's cgroup
// mounts.
func (n *Netns) Run(args ...string) (string, error) {
	return n.run(exec.Command("ip", append([]string{"netns", "exec", n.Name}, args...)...), args)
}

func (n *Netns) run(cmd *exec.Cmd, args []string) (string, error) {
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("netns %s: %s: %w: %s", n.Name, strings.Join(args, " "), err, out.String())
	}
	return out.String(), nil
}

// Exec runs a command inside the namespace and fails the test when it
// fails. It returns the combined output.
func (n *Netns) Exec(tb testing.TB, args ...string) string {
	tb.Helper()
	out, err := n.Run(args...)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// RunInCgroup runs a command inside the namespace as a member of the
// cgroup v2 directory cgroup: the process is cloned straight into the
// cgroup (CLONE_INTO_CGROUP), so every socket the command opens belongs to
// it.
func (n *Netns) RunInCgroup(cgroup string, args ...string) (string, error) {
	fd, err := unix.Open(cgroup, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", fmt.Errorf("open cgroup: %w", err)
	}
	defer unix.Close(fd)
	cmd := exec.Command("ip", append([]string{"netns", "exec", n.Name}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	return n.run(cmd, args)
}

// Ifindex returns the index of the named interface inside the namespace.
func (n *Netns) Ifindex(name string) (int, error) {
	var idx int
	err := n.Do(func() error {
		ifc, err := net.InterfaceByName(name)
		if err != nil {
			return fmt.Errorf("interface %s: %w", name, err)
		}
		idx = ifc.Index
		return nil
	})
	return idx, err
}
