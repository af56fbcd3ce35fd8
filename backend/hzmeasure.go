package backend

import (
	"errors"
	"fmt"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// kernelHZValues are the tick rates the kernel's Kconfig offers
// (CONFIG_HZ_100, _250, _300, _1000).
var kernelHZValues = []uint32{100, 250, 300, 1000}

// MeasureHZ measures the kernel's tick rate: a BPF program returning
// bpf_jiffies64 is test-run twice, span apart, and the jiffies elapsed per
// second are rounded to the nearest Kconfig value. It fails when the
// measure is more than 10% off every value (a loaded machine: try again),
// and needs BPF (CAP_BPF).
func MeasureHZ(span time.Duration) (uint32, error) {
	if span < 50*time.Millisecond {
		return 0, errors.New("measure HZ: span too short")
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "bf_jiffies", Type: ebpf.XDP, License: licenseGPL,
		Instructions: asm.Instructions{asm.FnJiffies64.Call(), asm.Return()},
	})
	if err != nil {
		return 0, fmt.Errorf("measure HZ: load: %w", err)
	}
	defer prog.Close()
	read := func() (uint32, time.Time, error) {
		ret, err := prog.Run(&ebpf.RunOptions{Data: make([]byte, 14)})
		return ret, time.Now(), err
	}
	j0, t0, err := read()
	if err != nil {
		return 0, fmt.Errorf("measure HZ: test run: %w", err)
	}
	time.Sleep(span)
	j1, t1, err := read()
	if err != nil {
		return 0, fmt.Errorf("measure HZ: test run: %w", err)
	}
	rate := float64(j1-j0) / t1.Sub(t0).Seconds()
	for _, hz := range kernelHZValues {
		if d := rate - float64(hz); d < 0.1*float64(hz) && d > -0.1*float64(hz) {
			return hz, nil
		}
	}
	return 0, fmt.Errorf("measure HZ: %.1f jiffies a second is no Kconfig tick rate", rate)
}
