package e2e

import "github.com/cilium/ebpf"

// errNotSupported is what bpf.HaveHook wraps when the kernel lacks a hook.
var errNotSupported = ebpf.ErrNotSupported
