package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// iptables-legacy serialises every command of the machine on one lock
// file, /run/xtables.lock, whatever network namespace it runs in, and a
// command without -w fails at once when another holds it. Test packages
// run in parallel (go test ./...) and several drive iptables-legacy in
// their own namespaces, so they would fail each other's commands. Each
// test process therefore gets its own lock file through XTABLES_LOCKFILE,
// which iptables honours, and so do the commands the process starts. An
// explicit XTABLES_LOCKFILE is kept.

// xtLockDir holds the per-process lock files, named by PID.
const xtLockDir = "/run/bpfilter-testenv-xtlock"

func init() {
	if os.Getenv("XTABLES_LOCKFILE") != "" || os.Geteuid() != 0 {
		return
	}
	if err := os.MkdirAll(xtLockDir, 0o755); err != nil {
		return // iptables then uses its default lock; tests still run
	}
	os.Setenv("XTABLES_LOCKFILE", filepath.Join(xtLockDir, strconv.Itoa(os.Getpid())+".lock"))
}

// sweepXtLocks removes the lock files of processes that are gone.
func sweepXtLocks() []error {
	ents, err := os.ReadDir(xtLockDir)
	if err != nil {
		return nil
	}
	var errs []error
	for _, e := range ents {
		pid, err := strconv.Atoi(strings.TrimSuffix(e.Name(), ".lock"))
		if err != nil {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			continue
		}
		if err := os.Remove(filepath.Join(xtLockDir, e.Name())); err != nil {
			errs = append(errs, fmt.Errorf("remove stale xtables lock: %w", err))
		}
	}
	return errs
}
