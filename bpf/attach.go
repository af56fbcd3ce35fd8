package bpf

import (
	"errors"
	"fmt"
	"log/slog"
	"net"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/bpfilter-go/bpfilter/ir"
)

// XDP attach modes, as reported by Attachment.XDPMode.
const (
	XDPModeDriver  = "driver"
	XDPModeGeneric = "generic"
)

// AttachOptions control Attach.
type AttachOptions struct {
	// Logger receives notices such as the XDP fallback to generic mode
	// (nil: slog.Default()).
	Logger *slog.Logger
}

func (o AttachOptions) logger() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.Default()
}

// Attachment is one program attached to one hook: one BPF link, or two for
// netfilter hooks (IPv4 and IPv6). Links live in the network namespace of
// the thread that created them.
type Attachment struct {
	// Hook is where the program is attached.
	Hook ir.Hook
	// Opts are the hook options, with Ifindex resolved.
	Opts ir.HookOpts
	// XDPMode is XDPModeDriver or XDPModeGeneric for XDP hooks ("" when
	// re-opened from pins, which do not record it).
	XDPMode string

	links    []link.Link
	priority int32  // current netfilter priority
	pinDir   string // "" when not pinned
	// netns is the network namespace of netfilter links (-1 otherwise):
	// make-before-break creates new links there, whatever the namespace
	// of the thread calling Update.
	netns int
}

// ResolveIfindex fills opts.Ifindex from opts.Iface for XDP and TC hooks,
// looking the name up in the calling thread's network namespace.
func ResolveIfindex(opts ir.HookOpts) (ir.HookOpts, error) {
	if opts.Ifindex != 0 || opts.Iface == "" {
		return opts, nil
	}
	ifc, err := net.InterfaceByName(opts.Iface)
	if err != nil {
		return opts, fmt.Errorf("resolve interface %q: %w", opts.Iface, err)
	}
	opts.Ifindex = uint32(ifc.Index)
	return opts, nil
}

// Attach attaches prog to hook with opts, in the calling thread's network
// namespace (XDP, TC, netfilter) or on opts.CgroupPath (cgroup hooks).
func Attach(prog *ebpf.Program, hook ir.Hook, opts ir.HookOpts, aopts AttachOptions) (*Attachment, error) {
	if prog == nil {
		return nil, errors.New("attach: nil program")
	}
	if !hook.Valid() {
		return nil, fmt.Errorf("attach: invalid hook %s", hook)
	}
	if err := opts.ValidateFor(hook); err != nil {
		return nil, fmt.Errorf("attach to %s: %w", hook, err)
	}
	if !opts.Attachable(hook) {
		return nil, fmt.Errorf("attach to %s: missing hook options (interface or cgroup path)", hook)
	}
	opts, err := ResolveIfindex(opts)
	if err != nil {
		return nil, fmt.Errorf("attach to %s: %w", hook, err)
	}
	a := &Attachment{Hook: hook, Opts: opts, netns: -1}
	switch hook.Flavour() {
	case ir.FlavourXDP:
		err = a.attachXDP(prog, aopts.logger())
	case ir.FlavourTC:
		err = a.attachTCX(prog)
	case ir.FlavourNF:
		prios := NFPriorities(opts)
		a.priority = prios[0]
		if a.netns, err = currentNetns(); err == nil {
			a.links, err = attachNetfilter(prog, hook, a.priority)
			if err != nil {
				_ = unix.Close(a.netns) // the attach error is what matters
			}
		}
	case ir.FlavourCgroupSkb, ir.FlavourCgroupSockAddr:
		err = a.attachCgroup(prog)
	default:
		err = fmt.Errorf("hook flavour %s is not supported", hook.Flavour())
	}
	if err != nil {
		return nil, fmt.Errorf("attach to %s: %w", hook, err)
	}
	return a, nil
}

func (a *Attachment) attachXDP(prog *ebpf.Program, log *slog.Logger) error {
	l, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: int(a.Opts.Ifindex), Flags: link.XDPDriverMode})
	if err == nil {
		a.XDPMode = XDPModeDriver
		a.links = []link.Link{l}
		return nil
	}
	log.Warn("XDP driver mode unavailable, falling back to generic mode",
		"ifindex", a.Opts.Ifindex, "reason", err)
	l, gerr := link.AttachXDP(link.XDPOptions{Program: prog, Interface: int(a.Opts.Ifindex), Flags: link.XDPGenericMode})
	if gerr != nil {
		return fmt.Errorf("XDP on ifindex %d: driver mode: %w; generic mode: %w", a.Opts.Ifindex, err, gerr)
	}
	a.XDPMode = XDPModeGeneric
	a.links = []link.Link{l}
	return nil
}

func (a *Attachment) attachTCX(prog *ebpf.Program) error {
	at := ebpf.AttachTCXIngress
	if a.Hook == ir.HookTCEgress {
		at = ebpf.AttachTCXEgress
	}
	l, err := link.AttachTCX(link.TCXOptions{Program: prog, Interface: int(a.Opts.Ifindex), Attach: at})
	if err != nil {
		return fmt.Errorf("TCX on ifindex %d: %w", a.Opts.Ifindex, err)
	}
	a.links = []link.Link{l}
	return nil
}

// CgroupAttachType returns the attach type of a cgroup hook.
func CgroupAttachType(h ir.Hook) (ebpf.AttachType, error) {
	switch h {
	case ir.HookCgroupSkbIngress:
		return ebpf.AttachCGroupInetIngress, nil
	case ir.HookCgroupSkbEgress:
		return ebpf.AttachCGroupInetEgress, nil
	case ir.HookCgroupSockAddrConnect4:
		return ebpf.AttachCGroupInet4Connect, nil
	case ir.HookCgroupSockAddrConnect6:
		return ebpf.AttachCGroupInet6Connect, nil
	case ir.HookCgroupSockAddrSendmsg4:
		return ebpf.AttachCGroupUDP4Sendmsg, nil
	case ir.HookCgroupSockAddrSendmsg6:
		return ebpf.AttachCGroupUDP6Sendmsg, nil
	}
	return 0, fmt.Errorf("%s is not a cgroup hook", h)
}

func (a *Attachment) attachCgroup(prog *ebpf.Program) error {
	at, err := CgroupAttachType(a.Hook)
	if err != nil {
		return err
	}
	l, err := link.AttachCgroup(link.CgroupOptions{Path: a.Opts.CgroupPath, Attach: at, Program: prog})
	if err != nil {
		return fmt.Errorf("cgroup %s: %w", a.Opts.CgroupPath, err)
	}
	a.links = []link.Link{l}
	return nil
}

// Update replaces the attached program with prog atomically: with
// link.Update for XDP, TCX and cgroup links, make-before-break for
// netfilter (see Attachment.updateNetfilter). On failure the old program
// stays attached.
func (a *Attachment) Update(prog *ebpf.Program) error {
	if prog == nil {
		return errors.New("update attachment: nil program")
	}
	if len(a.links) == 0 {
		return fmt.Errorf("update %s: attachment is closed", a.Hook)
	}
	if a.Hook.Flavour() == ir.FlavourNF {
		return a.updateNetfilter(prog)
	}
	if err := a.links[0].Update(prog); err != nil {
		return fmt.Errorf("update %s: %w", a.Hook, err)
	}
	return nil
}

// Info returns the kernel's view of each link (one, or IPv4 then IPv6 for
// netfilter).
func (a *Attachment) Info() ([]*link.Info, error) {
	out := make([]*link.Info, 0, len(a.links))
	for _, l := range a.links {
		info, err := l.Info()
		if err != nil {
			return nil, fmt.Errorf("link info of %s: %w", a.Hook, err)
		}
		out = append(out, info)
	}
	return out, nil
}

// Priority returns the netfilter priority the program is attached at (0
// for other hooks).
func (a *Attachment) Priority() int32 { return a.priority }

// Close detaches the program: it removes the pins, if any, and closes the
// links.
func (a *Attachment) Close() error {
	var errs []error
	if a.pinDir != "" {
		if err := a.Unpin(); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, a.Release())
	return errors.Join(errs...)
}

// Release closes the links' file descriptors but keeps their pins, so a
// pinned attachment goes on filtering after the process exits.
func (a *Attachment) Release() error {
	var errs []error
	for _, l := range a.links {
		if err := l.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close %s link: %w", a.Hook, err))
		}
	}
	a.links = nil
	if a.netns >= 0 {
		if err := unix.Close(a.netns); err != nil {
			errs = append(errs, fmt.Errorf("close %s network namespace: %w", a.Hook, err))
		}
		a.netns = -1
	}
	return errors.Join(errs...)
}
