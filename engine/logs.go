package engine

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/cilium/ebpf/ringbuf"

	"github.com/bpfilter-go/bpfilter/backend"
)

// ReadLogs reads the chain's log ring buffer and calls fn for each entry
// until ctx is done (it then returns nil) or reading fails. Only one
// reader should consume a chain's logs at a time.
func (c *Chain) ReadLogs(ctx context.Context, fn func(backend.LogEntry)) error {
	if c.coll == nil {
		return fmt.Errorf("engine: logs of chain %s: chain is closed", c.IR.Name)
	}
	m := c.coll.Maps[backend.LogMap]
	if m == nil {
		return fmt.Errorf("engine: logs of chain %s: no map %s", c.IR.Name, backend.LogMap)
	}
	rd, err := ringbuf.NewReader(m)
	if err != nil {
		return fmt.Errorf("engine: logs of chain %s: %w", c.IR.Name, err)
	}
	stop := context.AfterFunc(ctx, func() { _ = rd.Close() })
	defer func() {
		if stop() {
			_ = rd.Close() // reading ended first; closing an idle reader cannot fail usefully
		}
	}()
	var rec ringbuf.Record
	for {
		if err := rd.ReadInto(&rec); err != nil {
			if errors.Is(err, os.ErrClosed) && ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("engine: logs of chain %s: %w", c.IR.Name, err)
		}
		e, err := backend.DecodeLogRecord(rec.RawSample)
		if err != nil {
			return fmt.Errorf("engine: logs of chain %s: %w", c.IR.Name, err)
		}
		fn(e)
	}
}
