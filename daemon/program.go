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
	// Replace atomically swaps next's program into the receiver's
	// attachment (next must be loaded only) and carries the kernel counters
	// of unchanged rules, the policy and the errors into next. When the
	// receiver is pinned, next's objects take over its pin directory. On
	// success next holds the attachment and the pins, and the receiver is
	// spent: its old program is unloaded and Close on it does nothing. On
	// failure nothing changed.
	Replace(next Program) error
	// Counters reads the kernel counters.
	Counters() (proto.Counters, error)
	// OpenLogs starts reading the program's log records (it is called with
	// the context locked, so it never races with Replace or Close); the
	// returned function then calls fn for every record until ctx ends
	// (returning nil) or reading fails.
	OpenLogs() (func(ctx context.Context, fn func(proto.LogEntry)) error, error)
	// Pin pins every object of the program under dir.
	Pin(dir string) error
	// Close detaches, unloads and unpins (nothing once spent by Replace).
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

// repairer is implemented by loaders that can rebuild the pin directory of
// an attached chain whose program pins are missing while its links are
// pinned (EngineLoader.Repair).
type repairer interface {
	Repair(dir string, c *ir.Chain) error
}
