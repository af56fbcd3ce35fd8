package localroutes

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// follow dumps again after each burst of notifications, after a lost
// notification (ENOBUFS) and every Resync interval.
func (m *Mirror) follow() {
	defer m.wg.Done()
	pending := false
	var since time.Time
	for {
		wait := m.opts.Resync
		if pending {
			wait = m.opts.Settle
			// A steady stream of notifications must not hold the dump
			// back for more than maxSettles settle intervals.
			if time.Since(since) > maxSettles*m.opts.Settle {
				wait = 0
			}
		}
		if err := m.notify.SetReadDeadline(time.Now().Add(wait)); err != nil {
			m.report(fmt.Errorf("setting the notification deadline: %w", err))
			return
		}
		msgs, err := m.notify.Receive()
		select {
		case <-m.done:
			return
		default:
		}
		var ne netTimeout
		switch {
		case err == nil:
			if !pending && len(msgs) > 0 {
				pending, since = true, time.Now()
			}
			if wait > 0 {
				continue
			}
		case errors.As(err, &ne) && ne.Timeout():
			if !pending && m.opts.Alive != nil && !m.opts.Alive() {
				m.stop()
				return
			}
		case errors.Is(err, unix.ENOBUFS):
			// Notifications were lost: dump now.
		default:
			m.report(fmt.Errorf("reading route notifications: %w", err))
			time.Sleep(m.opts.Settle)
		}
		pending = false
		if err := m.Sync(); err != nil {
			m.report(err)
		}
	}
}

// stop ends a Mirror whose namespace is gone: no more syncs, sockets
// closed (the maps keep their contents).
func (m *Mirror) stop() {
	m.mu.Lock()
	m.stopped = true
	m.mu.Unlock()
	if err := m.closeFiles(); err != nil {
		m.report(fmt.Errorf("closing the sockets of a gone namespace: %w", err))
	}
	if m.opts.Logger != nil {
		m.opts.Logger.Info("address type routes: the network namespace is gone, no longer following it")
	}
}

// Stopped reports whether the Mirror stopped because its namespace is
// gone (Options.Alive).
func (m *Mirror) Stopped() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stopped
}

// maxSettles bounds the delay a burst of notifications adds to a dump.
const maxSettles = 10

// netTimeout is the timeout test of net.Error.
type netTimeout interface{ Timeout() bool }

func (m *Mirror) report(err error) {
	m.mu.Lock()
	m.lastErr = err
	m.mu.Unlock()
	if m.opts.Logger != nil {
		m.opts.Logger.Warn("address type routes: sync failed", "err", err)
	}
}
