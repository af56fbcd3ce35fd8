package bpf

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/features"

	"github.com/bpfilter-go/bpfilter/ir"
)

// linuxVersion packs a kernel version like LINUX_VERSION_CODE.
func linuxVersion(major, minor uint32) uint32 { return major<<16 | minor<<8 }

// HaveHook reports whether the running kernel can attach programs to h:
// nil when it can, an error wrapping ebpf.ErrNotSupported when it cannot.
func HaveHook(h ir.Hook) error {
	var pt ebpf.ProgramType
	switch h.Flavour() {
	case ir.FlavourXDP:
		pt = ebpf.XDP
	case ir.FlavourTC:
		pt = ebpf.SchedCLS
	case ir.FlavourNF:
		pt = ebpf.Netfilter
	case ir.FlavourCgroupSkb:
		pt = ebpf.CGroupSKB
	case ir.FlavourCgroupSockAddr:
		pt = ebpf.CGroupSockAddr
	default:
		return fmt.Errorf("hook %s: unknown flavour: %w", h, ebpf.ErrNotSupported)
	}
	if err := features.HaveProgramType(pt); err != nil {
		return fmt.Errorf("hook %s needs program type %s: %w", h, pt, err)
	}
	var minVersion uint32
	var what string
	switch h.Flavour() {
	case ir.FlavourTC:
		minVersion, what = linuxVersion(6, 6), "TCX links"
	case ir.FlavourXDP:
		minVersion, what = linuxVersion(5, 9), "XDP links"
	}
	if minVersion != 0 {
		v, err := features.LinuxVersionCode()
		if err != nil {
			return fmt.Errorf("hook %s: kernel version: %w", h, err)
		}
		if v < minVersion {
			return fmt.Errorf("hook %s needs %s (Linux %d.%d): %w", h, what, minVersion>>16, (minVersion>>8)&0xff, ebpf.ErrNotSupported)
		}
	}
	return nil
}
