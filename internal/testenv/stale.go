package testenv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// A test run that is killed (a timeout, ^C, kill -9) never runs its
// t.Cleanup functions, so its namespaces, bpffs mounts and cgroups stay
// behind. Every resource this package creates is therefore recorded in a
// marker file under markerDir naming the owning process (PID and start
// time, so a reused PID does not count as alive). The first helper call of
// a later test process removes the resources whose owner is gone. Markers
// of live processes — another test binary running in parallel — are left
// alone.

// markerDir holds one marker file per live test resource.
var markerDir = "/run/bpfilter-testenv"

// Resource kinds recorded in markers.
const (
	kindNetns  = "netns"
	kindBPFFS  = "bpffs"
	kindCgroup = "cgroup"
)

var sweepOnce sync.Once

// sweepStale removes, once per process, the resources left by dead test
// processes. Failures are reported through report and do not stop the
// sweep: a leftover is a nuisance, not a reason to fail the current test.
func sweepStale(report func(format string, args ...any)) {
	sweepOnce.Do(func() {
		for _, err := range append(sweep(), sweepXtLocks()...) {
			report("testenv: stale resource sweep: %v", err)
		}
	})
}

// marker is the content of a marker file.
type marker struct {
	kind  string
	path  string // namespace name, mount point or cgroup directory
	pid   int
	start string // /proc/<pid>/stat start time
}

// markerName is the file name of the marker for a resource: the kind and
// a path with slashes flattened, unique because paths are.
func markerName(kind, path string) string {
	return kind + "-" + strings.ReplaceAll(strings.Trim(path, "/"), "/", "_")
}

// recordResource writes the marker of a resource owned by this process and
// returns a function that removes it (called after the resource is gone).
func recordResource(kind, path string) (func(), error) {
	start, err := processStart(os.Getpid())
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(markerDir, 0o755); err != nil {
		return nil, fmt.Errorf("testenv marker directory: %w", err)
	}
	file := filepath.Join(markerDir, markerName(kind, path))
	body := fmt.Sprintf("%s\n%s\n%d\n%s\n", kind, path, os.Getpid(), start)
	if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
		return nil, fmt.Errorf("testenv marker: %w", err)
	}
	return func() { _ = os.Remove(file) }, nil
}

// processStart returns the start time field of /proc/<pid>/stat, which
// with the PID identifies a process across PID reuse.
func processStart(pid int) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", fmt.Errorf("process %d: %w", pid, err)
	}
	// The command name (field 2) may contain spaces: fields count from
	// the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return "", fmt.Errorf("process %d: malformed stat", pid)
	}
	f := strings.Fields(s[i+1:])
	// Field 22 (starttime) is the 20th after the command name.
	if len(f) < 20 {
		return "", fmt.Errorf("process %d: short stat", pid)
	}
	return f[19], nil
}

// parseMarker reads a marker file.
func parseMarker(b []byte) (marker, error) {
	f := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(f) != 4 {
		return marker{}, errors.New("malformed marker")
	}
	pid, err := strconv.Atoi(f[2])
	if err != nil || pid <= 0 {
		return marker{}, fmt.Errorf("malformed marker pid %q", f[2])
	}
	return marker{kind: f[0], path: f[1], pid: pid, start: f[3]}, nil
}

// alive reports whether the marker's owner still runs.
func (m marker) alive() bool {
	start, err := processStart(m.pid)
	return err == nil && start == m.start
}

// sweep removes the resources of dead owners and returns what failed.
func sweep() []error {
	ents, err := os.ReadDir(markerDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return []error{fmt.Errorf("read %s: %w", markerDir, err)}
	}
	var errs []error
	for _, e := range ents {
		file := filepath.Join(markerDir, e.Name())
		b, err := os.ReadFile(file)
		if err != nil {
			errs = append(errs, fmt.Errorf("read marker %s: %w", file, err))
			continue
		}
		m, err := parseMarker(b)
		if err != nil {
			errs = append(errs, fmt.Errorf("marker %s: %w", file, err))
			_ = os.Remove(file)
			continue
		}
		if m.alive() {
			continue
		}
		if err := m.release(); err != nil {
			errs = append(errs, fmt.Errorf("stale %s %s of dead process %d: %w", m.kind, m.path, m.pid, err))
			continue
		}
		_ = os.Remove(file)
	}
	return errs
}

// release removes a stale resource; one that is already gone is fine.
func (m marker) release() error {
	switch m.kind {
	case kindNetns:
		if _, err := os.Stat(filepath.Join("/run/netns", m.path)); errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if out, err := exec.Command("ip", "netns", "del", m.path).CombinedOutput(); err != nil {
			return fmt.Errorf("ip netns del: %w: %s", err, out)
		}
	case kindBPFFS:
		if err := unix.Unmount(m.path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("unmount: %w", err)
		}
		// The empty mount point and its test directory, if empty too.
		_ = os.Remove(m.path)
		_ = os.Remove(filepath.Dir(m.path))
	case kindCgroup:
		if _, err := os.Stat(m.path); errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err := removeCgroup(m.path, filepath.Dir(m.path)); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown resource kind %q", m.kind)
	}
	return nil
}
