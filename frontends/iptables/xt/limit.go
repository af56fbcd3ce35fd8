package xt

import "fmt"

// creditsPerJiffy is xt_limit's CREDITS_PER_JIFFY at tick rate hz: the
// largest power of two not above 0xFFFFFFFF / (hz * 86400).
func creditsPerJiffy(hz uint32) uint32 {
	m := uint32(0xFFFFFFFF / (uint64(hz) * 86400))
	p := uint32(1)
	for p <= m/2 {
		p *= 2
	}
	return p
}

// user2credits is xt_limit's conversion of a period into credits, in the
// kernel's 32-bit arithmetic.
func user2credits(user, hz uint32) uint32 {
	hc := hz * creditsPerJiffy(hz)
	if user > 0xFFFFFFFF/hc {
		return (user / LimitScale) * hc
	}
	return (user * hc) / LimitScale
}

// ErrLimitRange is the kernel's ERANGE for a limit it refuses.
var ErrLimitRange = fmt.Errorf("limit out of range")

// KernelCheck is limit_mt_check's test at tick rate hz (CONFIG_HZ): a zero
// burst, or a bucket capacity user2credits(avg*burst) (32-bit product)
// below the cost user2credits(avg), is refused with ERANGE.
func (l *Limit) KernelCheck(hz uint32) error {
	if hz == 0 {
		return fmt.Errorf("limit: unknown kernel HZ")
	}
	if l.Burst == 0 || user2credits(l.Avg*l.Burst, hz) < user2credits(l.Avg, hz) {
		return fmt.Errorf("%w: overflow, try lower: %d/%d", ErrLimitRange, l.Avg, l.Burst)
	}
	return nil
}
