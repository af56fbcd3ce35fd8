// Package client speaks the bpfilter daemon's socket protocol (package
// proto, docs/PROTOCOL.md).
package client

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"time"

	"github.com/bpfilter-go/bpfilter/daemon/proto"
)

// DefaultRuntimeDir is where the daemon's socket lives by default.
const DefaultRuntimeDir = "/run/bpfilter"

// Client is one connection to the daemon. It is not safe for concurrent
// use; open one client per goroutine.
type Client struct {
	conn   net.Conn
	nextID uint64
	// Timeout bounds each request (0: no limit).
	Timeout time.Duration
}

// RemoteError is a failure reported by the daemon.
type RemoteError struct {
	Errno string
	Msg   string
}

// Error returns the daemon's message.
func (e *RemoteError) Error() string { return e.Msg }

// Dial connects to the daemon whose runtime directory is dir.
func Dial(dir string) (*Client, error) {
	path := filepath.Join(dir, "daemon.sock")
	conn, err := net.Dial("unix", path)
	if err != nil {
		return nil, fmt.Errorf("connecting to the bpfilter daemon at %s (is it running?): %w", path, err)
	}
	return &Client{conn: conn}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

func (c *Client) send(req *proto.Request) error {
	c.nextID++
	req.Version, req.ID = proto.Version, c.nextID
	b, err := proto.Encode(req)
	if err != nil {
		return err
	}
	if c.Timeout > 0 {
		c.conn.SetDeadline(time.Now().Add(c.Timeout))
	}
	return proto.WriteFrame(c.conn, b)
}

func (c *Client) recv() (*proto.Response, error) {
	b, err := proto.ReadFrame(c.conn, 0)
	if err != nil {
		return nil, fmt.Errorf("reading the daemon's answer: %w", err)
	}
	var r proto.Response
	if err := jsonUnmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("decoding the daemon's answer: %w", err)
	}
	return &r, nil
}

// Do sends req and returns the daemon's answer; a failure answer is
// returned as a *RemoteError.
func (c *Client) Do(req *proto.Request) (*proto.Response, error) {
	if err := c.send(req); err != nil {
		return nil, err
	}
	r, err := c.recv()
	if err != nil {
		return nil, err
	}
	if r.ID != req.ID && r.ID != 0 {
		return nil, fmt.Errorf("answer for request %d, want %d", r.ID, req.ID)
	}
	if !r.OK {
		return r, &RemoteError{Errno: r.Errno, Msg: r.Error}
	}
	return r, nil
}

// Stream sends a streaming request (chain.logs) and calls fn for each
// answer until the daemon ends the stream, fn returns an error, or the
// connection fails. The connection cannot be used afterwards.
func (c *Client) Stream(req *proto.Request, fn func(*proto.Response) error) error {
	c.Timeout = 0
	if err := c.send(req); err != nil {
		return err
	}
	c.conn.SetDeadline(time.Time{})
	for {
		r, err := c.recv()
		if err != nil {
			return err
		}
		if !r.OK {
			return &RemoteError{Errno: r.Errno, Msg: r.Error}
		}
		if r.Done {
			return nil
		}
		if err := fn(r); err != nil {
			return err
		}
	}
}

// IsErrno reports whether err is a daemon failure of class errno.
func IsErrno(err error, errno string) bool {
	var re *RemoteError
	return errors.As(err, &re) && re.Errno == errno
}
