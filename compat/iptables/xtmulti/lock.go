package main

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// defaultLockPath is XT_LOCK_NAME, the lock iptables-legacy takes around
// a read-modify-replace of the kernel tables; XTABLES_LOCKFILE overrides
// it, as in iptables.
const defaultLockPath = "/run/xtables.lock"

// lockPath is the lock file in use.
func lockPath() string {
	if p := os.Getenv("XTABLES_LOCKFILE"); p != "" {
		return p
	}
	return defaultLockPath
}

// wantsWait tells whether the command line has -w/--wait (also bundled in
// short options like -nw).
func wantsWait(args []string) bool {
	for _, a := range args {
		if a == "--wait" || strings.HasPrefix(a, "--wait=") {
			return true
		}
		if len(a) > 1 && a[0] == '-' && a[1] != '-' && strings.ContainsRune(a[1:], 'w') {
			return true
		}
	}
	return false
}

// lock takes the xtables lock: waiting with -w, failing at once without,
// like iptables. The lock is released when the process exits.
func lock(args []string) error {
	path := lockPath()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("Fatal: can't open lock file %s: %w", path, err)
	}
	how := unix.LOCK_EX
	if !wantsWait(args) {
		how |= unix.LOCK_NB
	}
	if err := unix.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		return fmt.Errorf("Another app is currently holding the xtables lock. Perhaps you want to use the -w option?")
	}
	// The descriptor stays open until exit.
	return nil
}
