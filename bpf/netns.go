package bpf

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// currentNetns opens the calling thread's network namespace. The caller
// must have locked its OS thread if it switched namespaces.
func currentNetns() (int, error) {
	fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open current network namespace: %w", err)
	}
	return fd, nil
}

// inNetns runs fn on a locked OS thread that has joined the network
// namespace nsfd, then restores the thread's namespace. If restoring
// fails the thread stays locked and dies with the goroutine, so no other
// goroutine ever runs in the wrong namespace.
func inNetns(nsfd int, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := currentNetns()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer unix.Close(orig)
		if err := unix.Setns(nsfd, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter network namespace: %w", err)
			return
		}
		ferr := fn()
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("restore network namespace: %w (after: %v)", err, ferr)
			return // thread stays locked: the runtime discards it
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}
