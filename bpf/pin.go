package bpf

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf/link"

	"github.com/bpfilter-go/bpfilter/ir"
)

// LinkPinNames returns the file names of an attachment's link pins: one
// link, or IPv4 then IPv6 for netfilter hooks.
func LinkPinNames(h ir.Hook) []string {
	if h.Flavour() == ir.FlavourNF {
		return []string{"link_ipv4", "link_ipv6"}
	}
	return []string{"link"}
}

// Pin pins the attachment's links in dir (a bpffs directory, created if
// missing), so they stay attached after the process exits. Close removes
// the pins.
func (a *Attachment) Pin(dir string) error {
	if len(a.links) == 0 {
		return fmt.Errorf("pin %s: attachment is closed", a.Hook)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("pin %s: %w", a.Hook, err)
	}
	if err := a.pinLinks(dir); err != nil {
		return err
	}
	a.pinDir = dir
	return nil
}

func (a *Attachment) pinLinks(dir string) error {
	for i, name := range LinkPinNames(a.Hook) {
		if i >= len(a.links) {
			return fmt.Errorf("pin %s: %d links, expected %d", a.Hook, len(a.links), len(LinkPinNames(a.Hook)))
		}
		if err := a.links[i].Pin(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("pin %s link: %w", a.Hook, err)
		}
	}
	return nil
}

// Unpin removes the attachment's pins; the links stay attached while the
// attachment holds them.
func (a *Attachment) Unpin() error {
	var errs []error
	for _, l := range a.links {
		if err := l.Unpin(); err != nil {
			errs = append(errs, fmt.Errorf("unpin %s link: %w", a.Hook, err))
		}
	}
	a.pinDir = ""
	return errors.Join(errs...)
}

// PinDir returns the directory the links are pinned in ("" when not
// pinned).
func (a *Attachment) PinDir() string { return a.pinDir }

// LoadPinnedAttachment re-opens the links pinned in dir by Pin for a chain
// on hook with opts. Updating and closing work as on the original. For
// netfilter hooks it must be called in the network namespace the links
// were attached in (the kernel does not report it): updates create their
// links there.
func LoadPinnedAttachment(dir string, hook ir.Hook, opts ir.HookOpts) (*Attachment, error) {
	if !hook.Valid() {
		return nil, fmt.Errorf("load pinned attachment: invalid hook %s", hook)
	}
	a := &Attachment{Hook: hook, Opts: opts, pinDir: dir, netns: -1}
	for _, name := range LinkPinNames(hook) {
		l, err := link.LoadPinnedLink(filepath.Join(dir, name), nil)
		if err != nil {
			_ = a.Release() // nothing was changed; the load error is what matters
			return nil, fmt.Errorf("load pinned %s link %s: %w", hook, name, err)
		}
		a.links = append(a.links, l)
	}
	if hook.Flavour() == ir.FlavourNF {
		info, err := a.links[0].Info()
		if err != nil {
			_ = a.Release()
			return nil, fmt.Errorf("load pinned %s link: %w", hook, err)
		}
		nf := info.Netfilter()
		if nf == nil {
			_ = a.Release()
			return nil, fmt.Errorf("load pinned %s link: pinned link is a %v link, not netfilter", hook, info.Type)
		}
		a.priority = nf.Priority
		if a.netns, err = currentNetns(); err != nil {
			_ = a.Release()
			return nil, fmt.Errorf("load pinned %s link: %w", hook, err)
		}
	}
	return a, nil
}
