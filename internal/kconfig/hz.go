// Package kconfig reads the running kernel's build configuration.
package kconfig

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// HZ returns the running kernel's tick rate (CONFIG_HZ), which xt_limit's
// and meta.limit's credits per jiffy depend on. It reads the kernel's own
// configuration: /proc/config.gz (CONFIG_IKCONFIG_PROC), else
// /boot/config-$(uname -r). The value is read once per process.
func HZ() (uint32, error) {
	hzOnce.Do(func() { hzValue, hzErr = readKernelHZ() })
	return hzValue, hzErr
}

var (
	hzOnce  sync.Once
	hzValue uint32
	hzErr   error
)

func readKernelHZ() (uint32, error) {
	var errs []error
	if f, err := os.Open("/proc/config.gz"); err == nil {
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err == nil {
			hz, err := configHZ(zr)
			if err == nil {
				return hz, nil
			}
			errs = append(errs, fmt.Errorf("/proc/config.gz: %w", err))
		} else {
			errs = append(errs, fmt.Errorf("/proc/config.gz: %w", err))
		}
	} else {
		errs = append(errs, err)
	}
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return 0, fmt.Errorf("kernel HZ: uname: %w", err)
	}
	path := "/boot/config-" + unix.ByteSliceToString(u.Release[:])
	f, err := os.Open(path)
	if err != nil {
		errs = append(errs, err)
		return 0, fmt.Errorf("kernel HZ not found: %w", errors.Join(errs...))
	}
	defer f.Close()
	hz, err := configHZ(f)
	if err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", path, err))
		return 0, fmt.Errorf("kernel HZ not found: %w", errors.Join(errs...))
	}
	return hz, nil
}

// configHZ finds CONFIG_HZ=N in a kernel configuration.
func configHZ(r io.Reader) (uint32, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), "CONFIG_HZ=")
		if !ok {
			continue
		}
		hz, err := strconv.ParseUint(v, 10, 32)
		if err != nil || hz == 0 {
			return 0, fmt.Errorf("invalid CONFIG_HZ=%s", v)
		}
		return uint32(hz), nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("no CONFIG_HZ line")
}
