package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/bpfilter-go/bpfilter/bpf"
	"github.com/bpfilter-go/bpfilter/daemon/proto"
	"github.com/bpfilter-go/bpfilter/engine"
)

// Runtime file names in the runtime directory.
const (
	SocketName = "daemon.sock"
	LockName   = "daemon.lock"
)

// PinDirName is the daemon's directory in the bpffs.
const PinDirName = "bpfilter"

// Main runs the daemon with the given arguments and returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	cfg, err := ParseFlags(args, stdout)
	if errors.Is(err, ErrExit) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "bpfilter: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := Run(ctx, cfg, stderr); err != nil {
		fmt.Fprintf(stderr, "bpfilter: %v\n", err)
		return 1
	}
	return 0
}

// lockRuntimeDir creates the runtime directory and takes the
// single-instance lock, held until the returned file is closed.
func lockRuntimeDir(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating runtime directory: %w", err)
	}
	path := filepath.Join(dir, LockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening lock file: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("another bpfilter daemon is running (%s is locked)", path)
		}
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return f, nil
}

// checkBPFFS makes sure path is on a BPF filesystem.
func checkBPFFS(path string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return fmt.Errorf("--bpffs-path %s: %w", path, err)
	}
	if uint32(st.Type) != unix.BPF_FS_MAGIC {
		return fmt.Errorf("--bpffs-path %s is not on a BPF filesystem (filesystem magic %#x); mount one with: mount -t bpf bpf %s", path, uint32(st.Type), path)
	}
	return nil
}

// Run runs the daemon until ctx ends.
func Run(ctx context.Context, cfg *Config, stderr io.Writer) error {
	level := slog.LevelInfo
	if cfg.Verbose["debug"] {
		level = slog.LevelDebug
	}
	lg := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	lock, err := lockRuntimeDir(cfg.RuntimeDir)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := checkBPFFS(cfg.BPFFSPath); err != nil {
		return err
	}
	opts := engine.Options{
		Verbose:    len(cfg.Verbose) > 0,
		VerboseBPF: cfg.Verbose["bpf"],
		LogSizePow: cfg.BufferLenPow,
		Logger:     lg,
	}
	if cfg.Verbose["bytecode"] {
		opts.DumpBytecode = stderr
	}
	if cfg.WithBPFToken {
		tok, err := bpf.NewToken(cfg.BPFFSPath)
		if err != nil {
			return fmt.Errorf("--with-bpf-token: %w", err)
		}
		defer tok.Close()
		opts.Token = tok
		lg.Info("BPF token created", "bpffs", cfg.BPFFSPath)
	}
	scfg := StateConfig{Loader: nil, Log: lg, IptablesRejectAsDrop: cfg.IptablesRejectAsDrop}
	if cfg.IptablesRejectAsDrop {
		lg.Warn("--iptables-reject-as-drop: iptables REJECT rules drop packets without sending the ICMP error or TCP reset")
	}
	if !cfg.Transient {
		scfg.PinRoot = filepath.Join(cfg.BPFFSPath, PinDirName)
		scfg.ContextFile = filepath.Join(cfg.RuntimeDir, ContextFileName)
		if err := os.MkdirAll(scfg.PinRoot, 0o700); err != nil {
			return fmt.Errorf("creating pin directory: %w", err)
		}
		opts.BPFFS = scfg.PinRoot
	} else if _, err := os.Stat(filepath.Join(cfg.RuntimeDir, ContextFileName)); err == nil {
		lg.Warn("transient mode: the saved context of a standard-mode daemon is left alone", "file", filepath.Join(cfg.RuntimeDir, ContextFileName))
	}
	scfg.Loader = EngineLoader{Options: opts}
	st := NewState(scfg)
	if err := st.Restore(); err != nil {
		return fmt.Errorf("%w (remove %s and %s to start from an empty ruleset)", err, scfg.ContextFile, scfg.PinRoot)
	}
	self, err := newProcPeer(os.Getpid())
	if err != nil {
		st.Shutdown(cfg.Transient)
		return err
	}
	defer self.close()
	if err := st.ensureIptables(!cfg.NoIptables, self); err != nil {
		st.Shutdown(cfg.Transient)
		return fmt.Errorf("iptables pass-through chains: %w", err)
	}
	disabled := map[string]string{}
	if cfg.NoCLI {
		disabled[proto.FrontCLI] = "--no-cli"
	}
	if cfg.NoIptables {
		disabled[proto.FrontIptables] = "--no-iptables"
	}
	if cfg.NoNftables {
		disabled[proto.FrontNftables] = "--no-nftables"
	}
	srv := NewServer(ServerConfig{State: st, Disabled: disabled, Group: cfg.SocketGroup, Log: lg, Version: Version})
	ln, err := srv.Listen(filepath.Join(cfg.RuntimeDir, SocketName))
	if err != nil {
		st.Shutdown(cfg.Transient)
		return err
	}
	lg.Info("bpfilter daemon ready", "socket", filepath.Join(cfg.RuntimeDir, SocketName), "transient", cfg.Transient, "chains", len(st.chains))
	serr := srv.Serve(ctx, ln)
	lg.Info("stopping", "transient", cfg.Transient)
	if err := st.Shutdown(cfg.Transient); err != nil {
		serr = errors.Join(serr, fmt.Errorf("shutdown: %w", err))
	}
	if cfg.Transient {
		os.Remove(filepath.Join(cfg.RuntimeDir, LockName))
	}
	return serr
}
