package testenv

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Cgroup2Root returns the mount point of the cgroup v2 hierarchy, found in
// /proc/self/mountinfo (it may be /sys/fs/cgroup or, on hybrid systems,
// /sys/fs/cgroup/unified).
func Cgroup2Root() (string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", fmt.Errorf("find cgroup2 mount: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent maj:min root mountpoint options [optional...] - fstype source superopts
		fields := strings.Fields(sc.Text())
		for i, fld := range fields {
			if fld == "-" && i+1 < len(fields) && i >= 4 {
				if fields[i+1] == "cgroup2" {
					return fields[4], nil
				}
				break
			}
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("read mountinfo: %w", err)
	}
	return "", errors.New("no cgroup2 filesystem is mounted")
}

// NewCgroup creates a cgroup v2 directory for the test and removes it when
// the test ends, first moving any process still in it to the parent.
func NewCgroup(tb testing.TB) string {
	tb.Helper()
	RequireRoot(tb)
	root, err := Cgroup2Root()
	if err != nil {
		tb.Skipf("test needs cgroup v2: %v", err)
	}
	name, err := uniqueName("bpfilter-test-")
	if err != nil {
		tb.Fatal(err)
	}
	dir := filepath.Join(root, name)
	sweepStale(tb.Logf)
	unmark, err := recordResource(kindCgroup, dir)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		unmark()
		tb.Fatalf("create test cgroup: %v", err)
	}
	tb.Cleanup(func() {
		if err := removeCgroup(dir, root); err != nil {
			tb.Errorf("remove test cgroup: %v", err)
			return
		}
		unmark()
	})
	return dir
}

// removeCgroup moves the processes of dir into parent and removes dir,
// retrying briefly while the kernel still counts exiting members.
func removeCgroup(dir, parent string) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		procs, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		if err != nil {
			return fmt.Errorf("read %s/cgroup.procs: %w", dir, err)
		}
		for _, pid := range strings.Fields(string(procs)) {
			err := os.WriteFile(filepath.Join(parent, "cgroup.procs"), []byte(pid), 0)
			if err != nil && !errors.Is(err, unix.ESRCH) {
				return fmt.Errorf("move pid %s out of %s: %w", pid, dir, err)
			}
		}
		err = unix.Rmdir(dir)
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
			return fmt.Errorf("rmdir %s: %w", dir, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
