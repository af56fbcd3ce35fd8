package testenv

import (
	"testing"

	"golang.org/x/sys/unix"
)

// NewBPFFS mounts a private bpffs on a new temporary directory and
// unmounts it when the test ends (before the directory is removed). Pins
// made below it disappear with the mount.
func NewBPFFS(tb testing.TB) string {
	tb.Helper()
	RequireRoot(tb)
	sweepStale(tb.Logf)
	dir := tb.TempDir()
	unmark, err := recordResource(kindBPFFS, dir)
	if err != nil {
		tb.Fatal(err)
	}
	if err := unix.Mount("bpf", dir, "bpf", 0, ""); err != nil {
		unmark()
		tb.Fatalf("mount bpffs on %s: %v", dir, err)
	}
	tb.Cleanup(func() {
		if err := unix.Unmount(dir, 0); err != nil {
			if err2 := unix.Unmount(dir, unix.MNT_DETACH); err2 != nil {
				tb.Errorf("unmount bpffs %s: %v (lazy: %v)", dir, err, err2)
				return
			}
		}
		unmark()
	})
	return dir
}
