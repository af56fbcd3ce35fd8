package traffic

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// Netns is a named network namespace created with `ip netns add`.
type Netns struct {
	Name string
}

// newNetns creates a network namespace with a unique name.
func newNetns(prefix string) (*Netns, error) {
	name := fmt.Sprintf("%s-%d", prefix, os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ip netns add %s: %w: %s", name, err, out)
	}
	ns := &Netns{Name: name}
	if err := ns.Run("ip", "link", "set", "lo", "up"); err != nil {
		ns.Delete()
		return nil, err
	}
	return ns, nil
}

// Delete removes the namespace (and with it every link inside).
func (ns *Netns) Delete() {
	_ = exec.Command("ip", "netns", "del", ns.Name).Run()
}

// Run runs a command inside the namespace and returns an error that carries
// its output when it fails.
func (ns *Netns) Run(args ...string) error {
	_, err := ns.Output(args...)
	return err
}

// Output runs a command inside the namespace and returns its stdout.
func (ns *Netns) Output(args ...string) (string, error) {
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns.Name}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("in netns %s: %s: %w: %s", ns.Name, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// RunStdin runs a command inside the namespace with the given standard input.
func (ns *Netns) RunStdin(stdin string, args ...string) error {
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns.Name}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("in netns %s: %s: %w: %s", ns.Name, strings.Join(args, " "), err, out)
	}
	return nil
}

// Do runs fn on an OS thread switched into the namespace. The thread is
// switched back before it is released.
func (ns *Netns) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- fmt.Errorf("open own netns: %w", err)
			return
		}
		defer orig.Close()
		target, err := os.Open("/run/netns/" + ns.Name)
		if err != nil {
			errc <- fmt.Errorf("open netns %s: %w", ns.Name, err)
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns.Name, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			// Leave the thread locked: it dies with the goroutine instead of
			// serving other goroutines from the wrong namespace.
			errc <- fmt.Errorf("restore netns: %w (after: %v)", err, ferr)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}
