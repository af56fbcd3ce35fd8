package daemon

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bpfilter-go/bpfilter/daemon/proto"
)

// Timeouts of the socket protocol.
const (
	// idleTimeout bounds the wait for the next request on a connection.
	idleTimeout = 10 * time.Minute
	// frameTimeout bounds reading one frame once its header arrived, and
	// writing one response.
	frameTimeout = 30 * time.Second
)

// Server serves the socket protocol for a State.
type Server struct {
	state *State
	// disabled maps a front to the flag that disabled it.
	disabled map[string]string
	// group may use the socket besides root (-1: root only).
	group   int
	log     *slog.Logger
	version string
	// peer opens the client process pid (tests may replace it).
	peer func(pid int) (Peer, func(), error)

	mu    sync.Mutex
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

// ServerConfig configures a Server.
type ServerConfig struct {
	State *State
	// Disabled maps disabled fronts to the flag that disabled them.
	Disabled map[string]string
	// Group is the group allowed on the socket besides root (-1: none).
	Group   int
	Log     *slog.Logger
	Version string
}

// NewServer returns a server for cfg.State.
func NewServer(cfg ServerConfig) *Server {
	lg := cfg.Log
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	return &Server{
		state: cfg.State, disabled: cfg.Disabled, group: cfg.Group, log: lg, version: cfg.Version,
		conns: map[net.Conn]bool{},
		peer: func(pid int) (Peer, func(), error) {
			p, err := newProcPeer(pid)
			if err != nil {
				return nil, nil, err
			}
			return p, p.close, nil
		},
	}
}

// Listen creates the socket at path: mode 0600, or 0660 owned by the
// server's group.
func (s *Server) Listen(path string) (*net.UnixListener, error) {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("removing stale socket %s: %w", path, err)
	}
	old := unix.Umask(0o177)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	unix.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	ln.SetUnlinkOnClose(true)
	if s.group >= 0 {
		if err := os.Chown(path, 0, s.group); err != nil {
			ln.Close()
			return nil, fmt.Errorf("giving %s to group %d: %w", path, s.group, err)
		}
		if err := os.Chmod(path, 0o660); err != nil {
			ln.Close()
			return nil, fmt.Errorf("chmod %s: %w", path, err)
		}
	}
	return ln, nil
}

// Serve accepts connections until ctx ends, then closes every connection
// and waits for their handlers.
func (s *Server) Serve(ctx context.Context, ln *net.UnixListener) error {
	go func() {
		<-ctx.Done()
		ln.Close()
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
	}()
	var err error
	for {
		var c *net.UnixConn
		c, err = ln.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil {
				err = nil
				break
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE) {
				s.log.Warn("accept", "err", err)
				time.Sleep(100 * time.Millisecond)
				continue
			}
			err = fmt.Errorf("accepting connections: %w", err)
			break
		}
		s.mu.Lock()
		if ctx.Err() != nil {
			s.mu.Unlock()
			c.Close()
			break
		}
		s.conns[c] = true
		s.wg.Add(1)
		s.mu.Unlock()
		go s.handleConn(ctx, c)
	}
	s.wg.Wait()
	return err
}

// peerCred returns the credentials of the process at the other end.
func peerCred(c *net.UnixConn) (*unix.Ucred, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("peer credentials: %w", err)
	}
	var cred *unix.Ucred
	var serr error
	if err := raw.Control(func(fd uintptr) {
		cred, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return nil, fmt.Errorf("peer credentials: %w", err)
	}
	if serr != nil {
		return nil, fmt.Errorf("peer credentials: %w", serr)
	}
	return cred, nil
}

// authorize allows root, and members of the configured group.
func (s *Server) authorize(cred *unix.Ucred) error {
	if cred.Uid == 0 {
		return nil
	}
	if s.group >= 0 {
		if int(cred.Gid) == s.group {
			return nil
		}
		if groups, err := procGroups(int(cred.Pid)); err == nil {
			for _, g := range groups {
				if g == s.group {
					return nil
				}
			}
		}
	}
	return errorf(proto.EPERM, "permission denied: uid %d is neither root nor in the daemon's socket group", cred.Uid)
}

// procGroups reads the supplementary groups of process pid.
func procGroups(pid int) ([]int, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "Groups:")
		if !ok {
			continue
		}
		var out []int
		for _, g := range strings.Fields(line) {
			if n, err := strconv.Atoi(g); err == nil {
				out = append(out, n)
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("no Groups line in /proc/%d/status", pid)
}

// readFrame reads one request frame: the header may take idleTimeout, the
// body frameTimeout.
func readFrame(c net.Conn) ([]byte, error) {
	var hdr [4]byte
	c.SetReadDeadline(time.Now().Add(idleTimeout))
	if _, err := io.ReadFull(c, hdr[:1]); err != nil {
		return nil, err
	}
	c.SetReadDeadline(time.Now().Add(frameTimeout))
	if _, err := io.ReadFull(c, hdr[1:]); err != nil {
		return nil, fmt.Errorf("reading frame header: %w", err)
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > proto.MaxFrame {
		return nil, fmt.Errorf("%w: %d bytes announced, limit %d", proto.ErrFrameTooLarge, n, proto.MaxFrame)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c, body); err != nil {
		return nil, fmt.Errorf("reading %d-byte frame body: %w", n, err)
	}
	return body, nil
}

func (s *Server) send(c net.Conn, r *proto.Response) error {
	b, err := proto.Encode(r)
	if err != nil {
		return err
	}
	c.SetWriteDeadline(time.Now().Add(frameTimeout))
	return proto.WriteFrame(c, b)
}

func failure(id uint64, err error) *proto.Response {
	return &proto.Response{ID: id, Error: err.Error(), Errno: Errno(err)}
}

func (s *Server) handleConn(ctx context.Context, c *net.UnixConn) {
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
		s.wg.Done()
	}()
	for ctx.Err() == nil {
		body, err := readFrame(c)
		if err != nil {
			if errors.Is(err, proto.ErrFrameTooLarge) {
				s.send(c, failure(0, errorf(proto.EPROTO, "%w", err)))
			}
			if !errors.Is(err, io.EOF) {
				s.log.Debug("dropping client", "err", err)
			}
			return
		}
		cred, err := peerCred(c)
		if err == nil {
			err = s.authorize(cred)
		}
		if err != nil {
			s.send(c, failure(0, err))
			return
		}
		req, resp := s.process(body, int(cred.Pid))
		if resp == nil {
			s.streamLogs(ctx, c, req, int(cred.Pid))
			return
		}
		if err := s.send(c, resp); err != nil {
			s.log.Debug("dropping client", "err", err)
			return
		}
	}
}

// process decodes and runs one request body from process pid. A chain.logs
// request is returned with a nil response: the caller streams it.
func (s *Server) process(body []byte, pid int) (*proto.Request, *proto.Response) {
	req, err := proto.DecodeRequest(body)
	if err != nil {
		var id uint64
		if req != nil {
			id = req.ID
		}
		return req, failure(id, errorf(proto.EPROTO, "%w", err))
	}
	if req.Cmd == proto.CmdChainLogs {
		return req, nil
	}
	return req, s.handle(req, pid)
}

// streamLogs answers chain.logs: one response per record until the client
// closes the connection or the chain goes away. It is the last request of a
// connection.
func (s *Server) streamLogs(ctx context.Context, c net.Conn, req *proto.Request, pid int) {
	if err := s.gate(req); err != nil {
		s.send(c, failure(req.ID, err))
		return
	}
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		// Any byte or the end of the stream from the client stops it.
		var b [1]byte
		c.SetReadDeadline(time.Time{})
		c.Read(b[:])
		cancel()
	}()
	var werr error
	err := s.state.ChainLogs(lctx, req.Front, req.Name, func(e proto.LogEntry) {
		if werr != nil {
			return
		}
		if werr = s.send(c, &proto.Response{ID: req.ID, OK: true, Log: &e}); werr != nil {
			cancel()
		}
	})
	if werr != nil {
		return
	}
	if err != nil {
		s.send(c, failure(req.ID, err))
		return
	}
	s.send(c, &proto.Response{ID: req.ID, OK: true, Done: true})
}
