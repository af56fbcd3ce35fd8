package daemon

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// Peer is where a request comes from: the network namespace its names and
// indexes resolve in, and the mount namespace its paths resolve in.
type Peer interface {
	// InNetns runs fn on an OS thread inside the peer's network namespace.
	InNetns(fn func() error) error
	// NetnsID identifies the peer's network namespace (its nsfs inode).
	NetnsID() uint64
	// HostPath maps a path as the peer sees it to a path the daemon can
	// open.
	HostPath(p string) string
	// LookupIface resolves an interface in the peer's network namespace: by
	// name when name is set, else it checks that index exists.
	LookupIface(name string, index uint32) (uint32, error)
}

// Namespaces finds network namespaces again by identifier, to act on a chain
// attached from a namespace the current client is not in.
type Namespaces interface {
	// InNetnsID runs fn in the network namespace identified by id.
	InNetnsID(id uint64, fn func() error) error
}

// nsInode returns the inode of an nsfs file.
func nsInode(f *os.File) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return 0, fmt.Errorf("stat %s: %w", f.Name(), err)
	}
	return st.Ino, nil
}

// selfNetnsID returns the daemon's own network namespace inode.
func selfNetnsID() (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/net", &st); err != nil {
		return 0, fmt.Errorf("stat /proc/self/ns/net: %w", err)
	}
	return st.Ino, nil
}

// runInNetns runs fn on a locked OS thread switched into the network
// namespace ns (an open nsfs file), then switches the thread back. When the
// thread cannot be switched back it is left locked, so the Go runtime
// discards it.
func runInNetns(ns *os.File, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		cur, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("opening current network namespace: %w", err)
			return
		}
		defer cur.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("entering network namespace %s: %w", ns.Name(), err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(cur.Fd()), unix.CLONE_NEWNET); err != nil {
			// Stay locked: the thread dies with this goroutine.
			errc <- errors.Join(ferr, fmt.Errorf("restoring network namespace: %w", err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// procPeer is a client process found through SO_PEERCRED.
type procPeer struct {
	pid   int
	netns *os.File
	ino   uint64
	self  uint64
}

// newProcPeer opens the network namespace of process pid.
func newProcPeer(pid int) (*procPeer, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", pid))
	if err != nil {
		return nil, fmt.Errorf("opening the client's network namespace: %w", err)
	}
	ino, err := nsInode(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	self, err := selfNetnsID()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &procPeer{pid: pid, netns: f, ino: ino, self: self}, nil
}

func (p *procPeer) InNetns(fn func() error) error {
	if p.ino == p.self {
		return fn()
	}
	return runInNetns(p.netns, fn)
}

func (p *procPeer) NetnsID() uint64 { return p.ino }

func (p *procPeer) HostPath(path string) string {
	return filepath.Join(fmt.Sprintf("/proc/%d/root", p.pid), filepath.Clean("/"+path))
}

func (p *procPeer) LookupIface(name string, index uint32) (uint32, error) {
	var out uint32
	err := p.InNetns(func() error {
		if name != "" {
			idx, err := resolveIface(name)
			out = idx
			return err
		}
		out = index
		return ifaceExists(index)
	})
	return out, err
}

func (p *procPeer) close() { p.netns.Close() }

// procNamespaces finds network namespaces by inode among the daemon's own,
// the named ones (/run/netns) and those of running processes.
type procNamespaces struct{}

func (procNamespaces) InNetnsID(id uint64, fn func() error) error {
	self, err := selfNetnsID()
	if err != nil {
		return err
	}
	if id == 0 || id == self {
		return fn()
	}
	f, err := findNetns(id)
	if err != nil {
		return err
	}
	defer f.Close()
	return runInNetns(f, fn)
}

// findNetns opens a file referring to the network namespace with inode id.
func findNetns(id uint64) (*os.File, error) {
	var cands []string
	for _, d := range []string{"/run/netns", "/var/run/netns"} {
		if m, err := filepath.Glob(filepath.Join(d, "*")); err == nil {
			cands = append(cands, m...)
		}
	}
	if m, err := filepath.Glob("/proc/[0-9]*/ns/net"); err == nil {
		cands = append(cands, m...)
	}
	for _, c := range cands {
		var st unix.Stat_t
		if unix.Stat(c, &st) != nil || st.Ino != id {
			continue
		}
		f, err := os.Open(c)
		if err != nil {
			continue
		}
		if ino, err := nsInode(f); err == nil && ino == id {
			return f, nil
		}
		f.Close()
	}
	return nil, &netnsGoneError{id: id}
}

// netnsGoneError reports a network namespace that cannot be found any more.
type netnsGoneError struct{ id uint64 }

func (e *netnsGoneError) Error() string {
	return fmt.Sprintf("network namespace %d no longer exists (no process or /run/netns entry refers to it)", e.id)
}

// resolveIface returns the index of interface name in the current thread's
// network namespace.
func resolveIface(name string) (uint32, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return 0, fmt.Errorf("interface %q: %w", name, err)
	}
	return uint32(ifi.Index), nil
}

// ifaceExists checks an interface index in the current thread's network
// namespace.
func ifaceExists(idx uint32) error {
	if _, err := net.InterfaceByIndex(int(idx)); err != nil {
		return fmt.Errorf("interface index %d does not exist in the client's network namespace: %w", idx, err)
	}
	return nil
}
