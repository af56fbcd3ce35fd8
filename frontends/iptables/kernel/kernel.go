// Package kernel talks to the kernel's iptables and ip6tables tables the way
// iptables-legacy does: getsockopt IPT_SO_GET_INFO / IPT_SO_GET_ENTRIES and
// setsockopt IPT_SO_SET_REPLACE / IPT_SO_SET_ADD_COUNTERS on a raw socket.
// A Conn works on the network namespace it was opened in.
package kernel

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
)

// Conn is a raw socket used for iptables socket options.
type Conn struct {
	fd    int
	fam   abi.Family
	level int
}

// Open opens a raw socket of the family in the calling thread's network
// namespace.
func Open(fam abi.Family) (*Conn, error) {
	domain, level := unix.AF_INET, unix.SOL_IP
	switch fam {
	case abi.IPv4:
	case abi.IPv6:
		domain, level = unix.AF_INET6, unix.SOL_IPV6
	default:
		return nil, fmt.Errorf("open iptables socket: unknown family %d", fam)
	}
	fd, err := unix.Socket(domain, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if err != nil {
		return nil, fmt.Errorf("open iptables socket (%s): %w", fam, err)
	}
	return &Conn{fd: fd, fam: fam, level: level}, nil
}

// OpenInNetns opens the raw socket inside the network namespace at nsPath
// (for example /run/netns/NAME). The socket stays bound to that namespace;
// the calling goroutine's namespace is restored before returning.
func OpenInNetns(fam abi.Family, nsPath string) (*Conn, error) {
	runtime.LockOSThread()
	self, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("open current network namespace: %w", err)
	}
	defer self.Close()
	target, err := os.Open(nsPath)
	if err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("open network namespace %s: %w", nsPath, err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("enter network namespace %s: %w", nsPath, err)
	}
	c, openErr := Open(fam)
	if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
		// The thread is left locked so that the runtime discards it.
		if c != nil {
			c.Close()
		}
		return nil, fmt.Errorf("return from network namespace %s: %w", nsPath, err)
	}
	runtime.UnlockOSThread()
	return c, openErr
}

// Close closes the socket.
func (c *Conn) Close() error {
	if err := unix.Close(c.fd); err != nil {
		return fmt.Errorf("close iptables socket: %w", err)
	}
	return nil
}

// Family returns the socket's family.
func (c *Conn) Family() abi.Family { return c.fam }

func (c *Conn) getsockopt(opt int, buf []byte) (int, error) {
	l := uint32(len(buf))
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(c.fd), uintptr(c.level), uintptr(opt),
		uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&l)), 0)
	if e != 0 {
		return 0, e
	}
	return int(l), nil
}

func (c *Conn) setsockopt(opt int, buf []byte) error {
	_, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(c.fd), uintptr(c.level), uintptr(opt),
		uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0)
	if e != 0 {
		return e
	}
	return nil
}

// GetInfo issues SO_GET_INFO for the table.
func (c *Conn) GetInfo(table string) (abi.Info, error) {
	buf := abi.MarshalInfoRequest(table)
	if _, err := c.getsockopt(abi.SoGetInfo, buf); err != nil {
		return abi.Info{}, fmt.Errorf("get info of %s table %q: %w", c.fam, table, err)
	}
	return abi.UnmarshalInfo(buf)
}

// GetEntries issues SO_GET_ENTRIES for a table whose entries take size
// bytes and returns the entries blob.
func (c *Conn) GetEntries(table string, size uint32) ([]byte, error) {
	buf := abi.MarshalGetEntriesRequest(table, size)
	if _, err := c.getsockopt(abi.SoGetEntries, buf); err != nil {
		return nil, fmt.Errorf("get entries of %s table %q: %w", c.fam, table, err)
	}
	_, blob, err := abi.UnmarshalGetEntries(buf)
	if err != nil {
		return nil, fmt.Errorf("get entries of %s table %q: %w", c.fam, table, err)
	}
	return blob, nil
}

// ReadTable reads the table's info and entries, retrying when the table
// changes between the two requests, and decodes it.
func (c *Conn) ReadTable(table string) (*abi.Table, abi.Info, []byte, error) {
	for range 5 {
		info, err := c.GetInfo(table)
		if err != nil {
			return nil, info, nil, err
		}
		blob, err := c.GetEntries(table, info.Size)
		if errors.Is(err, unix.EAGAIN) {
			continue
		}
		if err != nil {
			return nil, info, nil, err
		}
		t, err := abi.Decode(c.fam, info, blob)
		if err != nil {
			return nil, info, blob, fmt.Errorf("decode kernel %s table %q: %w", c.fam, table, err)
		}
		return t, info, blob, nil
	}
	return nil, abi.Info{}, nil, fmt.Errorf("read %s table %q: table kept changing", c.fam, table)
}

// Replace issues SO_SET_REPLACE with the header and entries. numCounters
// must be the number of entries currently in the kernel table; the old
// counters are returned.
func (c *Conn) Replace(rep abi.Replace, entries []byte, numCounters uint32) ([]abi.Counters, error) {
	old := make([]byte, max(1, int(numCounters)*abi.CountersSize))
	rep.NumCounters = numCounters
	rep.Counters = uint64(uintptr(unsafe.Pointer(&old[0])))
	buf := rep.Marshal(entries)
	err := c.setsockopt(abi.SoSetReplace, buf)
	runtime.KeepAlive(old)
	if err != nil {
		return nil, fmt.Errorf("replace %s table %q: %w", c.fam, rep.Name, err)
	}
	return abi.UnmarshalCounters(old[:int(numCounters)*abi.CountersSize])
}

// ReplaceTable encodes t and replaces the kernel's table with it.
func (c *Conn) ReplaceTable(t *abi.Table) ([]abi.Counters, error) {
	info, err := c.GetInfo(t.Name)
	if err != nil {
		return nil, err
	}
	rep, blob, err := abi.Encode(t)
	if err != nil {
		return nil, err
	}
	return c.Replace(rep, blob, info.NumEntries)
}

// AddCounters issues SO_SET_ADD_COUNTERS: one counter pair per entry of the
// table, added to the kernel's.
func (c *Conn) AddCounters(table string, counters []abi.Counters) error {
	if len(counters) == 0 {
		return fmt.Errorf("add counters to %s table %q: no counters", c.fam, table)
	}
	if err := c.setsockopt(abi.SoSetAddCounters, abi.MarshalCountersInfo(table, counters)); err != nil {
		return fmt.Errorf("add counters to %s table %q: %w", c.fam, table, err)
	}
	return nil
}

// Supported asks the kernel whether it supports revision rev of the match
// (target false) or target named name, as iptables does before choosing a
// revision (IPT_SO_GET_REVISION_MATCH / _TARGET).
func (c *Conn) Supported(target bool, name string, rev uint8) (bool, error) {
	if len(name) >= abi.ExtNameLen {
		return false, fmt.Errorf("revision of %q: name too long", name)
	}
	buf := make([]byte, abi.RevisionRequestSize)
	copy(buf, name)
	buf[abi.ExtNameLen] = rev
	opt, what := abi.SoGetRevisionMatch, "match"
	if target {
		opt, what = abi.SoGetRevisionTarget, "target"
	}
	if c.fam == abi.IPv6 {
		opt = abi.So6GetRevisionMatch
		if target {
			opt = abi.So6GetRevisionTarget
		}
	}
	_, err := c.getsockopt(opt, buf)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, unix.EPROTONOSUPPORT), errors.Is(err, unix.ENOENT):
		return false, nil
	}
	return false, fmt.Errorf("revision %d of %s %q: %w", rev, what, name, err)
}
