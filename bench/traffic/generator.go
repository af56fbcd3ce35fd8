package traffic

import (
	"fmt"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"
)

// xdpMd mirrors struct xdp_md (uapi/linux/bpf.h), the XDP test-run context.
type xdpMd struct {
	Data, DataEnd, DataMeta, IngressIfindex, RxQueueIndex, EgressIfindex uint32
}

// Generator transmits copies of one frame out of the gen interface with
// BPF_PROG_TEST_RUN in XDP live-frame mode (an XDP_TX program).
type Generator struct {
	topo *Topology
	tx   *ebpf.Program
	pkt  []byte
}

// NewGenerator loads the XDP_TX program and builds the frame.
func NewGenerator(t *Topology) (*Generator, error) {
	tx, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:    ebpf.XDP,
		License: "GPL",
		Instructions: asm.Instructions{
			asm.Mov.Imm(asm.R0, 3), // XDP_TX
			asm.Return(),
		},
	})
	if err != nil {
		return nil, fmt.Errorf("load XDP_TX program: %w", err)
	}
	return &Generator{topo: t, tx: tx, pkt: udpFrame(t.GenIf.HardwareAddr, t.DUTIf.HardwareAddr)}, nil
}

// Close unloads the generator program.
func (g *Generator) Close() error { return g.tx.Close() }

// Sample is the result of one measurement.
type Sample struct {
	Sent, Delivered uint64
	Elapsed         time.Duration
}

// PPS is the delivered packets per second.
func (s Sample) PPS() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Delivered) / s.Elapsed.Seconds()
}

// Send transmits n frames as fast as the kernel takes them and reports how
// many reached the DUT's UDP layer during that time.
func (g *Generator) Send(n uint32) (Sample, error) {
	before, err := g.topo.Delivered()
	if err != nil {
		return Sample{}, err
	}
	var elapsed time.Duration
	err = g.topo.Gen.Do(func() error {
		start := time.Now()
		_, err := g.tx.Run(&ebpf.RunOptions{
			Data:      g.pkt,
			Repeat:    n,
			Flags:     unix.BPF_F_TEST_XDP_LIVE_FRAMES,
			Context:   &xdpMd{DataEnd: uint32(len(g.pkt)), IngressIfindex: uint32(g.topo.GenIf.Index)},
			BatchSize: 64,
		})
		elapsed = time.Since(start)
		return err
	})
	if err != nil {
		return Sample{}, fmt.Errorf("XDP live-frame transmit: %w", err)
	}
	after, err := g.settled()
	if err != nil {
		return Sample{}, err
	}
	return Sample{Sent: uint64(n), Delivered: after - before, Elapsed: elapsed}, nil
}

// settled reads the DUT's delivered count once the last frames have gone
// through: when two reads 20 ms apart agree (at most 1 s), as on a busy
// machine the receiving side can still be working through its backlog
// after the transmit returned.
func (g *Generator) settled() (uint64, error) {
	prev, err := g.topo.Delivered()
	if err != nil {
		return 0, err
	}
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		cur, err := g.topo.Delivered()
		if err != nil {
			return 0, err
		}
		if cur == prev {
			return cur, nil
		}
		prev = cur
	}
	return prev, nil
}

// SendFor sends for about d: a short probe estimates the rate, then one
// sample sized to last d is taken (at least 10,000 and at most 20,000,000
// packets).
func (g *Generator) SendFor(d time.Duration) (Sample, error) {
	probe, err := g.Send(10000)
	if err != nil {
		return probe, err
	}
	rate := float64(probe.Sent) / probe.Elapsed.Seconds()
	n := rate * d.Seconds()
	switch {
	case n < 10000:
		n = 10000
	case n > 20_000_000:
		n = 20_000_000
	}
	return g.Send(uint32(n))
}
