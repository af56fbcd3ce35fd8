package daemon

import (
	"context"

	"github.com/bpfilter-go/bpfilter/daemon/proto"
	"github.com/bpfilter-go/bpfilter/ir"
)

// Program is one chain loaded in the kernel. The production implementation
// wraps engine.Chain (see engine.go); tests use an in-memory one.
type Program interface {
	// Attach attaches the program to its chain's hook. opts carries
	// resolved values (an ifindex, a cgroup path the daemon can open). It
	// runs on a thread inside the target network namespace.
	Attach(opts ir.HookOpts) error
	// Replace atomically moves the receiver's attachment to next. The
	// receiver stays loaded (its counters readable) until Close.
	Replace(next Program) error
	// Counters reads the kernel counters.
	Counters() (proto.Counters, error)
	// ReadLogs calls fn for every log record until ctx ends.
	ReadLogs(ctx context.Context, fn func(proto.LogEntry)) error
	// Pin pins every object of the program under dir.
	Pin(dir string) error
	// Close detaches (unless Replace moved the attachment away), unloads and
	// unpins.
	Close() error
	// Release closes the daemon's handles and leaves the kernel objects as
	// they are: attached and pinned objects stay in force. Used when a
	// standard-mode daemon stops, and when a restore is abandoned.
	Release() error
}

// Loader creates programs.
type Loader interface {
	// Load compiles and loads c, unattached.
	Load(c *ir.Chain) (Program, error)
	// Restore re-opens the objects Pin left under dir.
	Restore(dir string, c *ir.Chain) (Program, error)
}
