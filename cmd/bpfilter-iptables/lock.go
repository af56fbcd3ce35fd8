package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// lockName is the file in the daemon's runtime directory that serialises
// read-modify-replace cycles of bpfilter-iptables, like iptables-legacy's
// /run/xtables.lock does for the kernel's tables.
const lockName = "xtables.lock"

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

// lock takes the lock, waiting with -w and failing at once without, like
// iptables; the returned function releases it.
func lock(dir string, args []string) (func(), error) {
	path := filepath.Join(dir, lockName)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("Fatal: can't open lock file %s: %w", path, err)
	}
	how := unix.LOCK_EX
	if !wantsWait(args) {
		how |= unix.LOCK_NB
	}
	if err := unix.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		return nil, fmt.Errorf("Another app is currently holding the xtables lock. Perhaps you want to use the -w option?")
	}
	return func() { f.Close() }, nil
}
