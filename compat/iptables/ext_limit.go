package iptables

import (
	"errors"
	"fmt"

	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
	"github.com/bpfilter-go/bpfilter/frontends/iptables/xt"
	"github.com/bpfilter-go/bpfilter/internal/kconfig"
)

// errOutOfRange is libiptc's message for ERANGE.
var errOutOfRange = otherErr("Numerical result out of range.")

// kernelCheckErr turns a refusal of an extension's checkentry into the
// error the kernel gives: ERANGE for limit, EINVAL otherwise.
func kernelCheckErr(err error) error {
	if errors.Is(err, xt.ErrLimitRange) {
		return fmt.Errorf("%w (%v)", errOutOfRange, err)
	}
	return fmt.Errorf("%w (%v)", errInvalidArg, err)
}

// limitKernelCheck is limit_mt_check: its overflow test depends on the
// kernel's HZ (read from its configuration). Without it, the 32-bit
// product avg*burst must not wrap below avg, which the kernel's test
// refuses too (a coarser test than the kernel's).
func limitKernelCheck(fam abi.Family, ip *abi.IPHeader, info xt.Info, hook int) error {
	l := info.(*xt.Limit)
	if hz, err := kconfig.HZ(); err == nil {
		return l.KernelCheck(hz)
	}
	if l.Burst == 0 || l.Avg*l.Burst < l.Avg {
		return fmt.Errorf("%w: overflow, try lower: %d/%d", xt.ErrLimitRange, l.Avg, l.Burst)
	}
	return nil
}
