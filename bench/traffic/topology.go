package traffic

import (
	"encoding/binary"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
)

// Addresses of the benchmark topology (RFC 2544 benchmarking range).
const (
	GenAddr = "198.18.0.1"
	DUTAddr = "198.18.0.2"
	// DUTPort is the UDP port the generated packets are sent to. Nothing
	// listens there: packets that pass the firewall are counted by the
	// kernel's UdpNoPorts counter of the DUT namespace.
	DUTPort = 9
)

// Topology is two network namespaces joined by a veth pair: the generator
// ("gen", interface g0) and the device under test ("dut", interface d0).
type Topology struct {
	Gen, DUT       *Netns
	GenIf, DUTIf   *net.Interface
	genXDP, dutXDP link.Link
	pass           *ebpf.Program
}

// NewTopology creates the namespaces and the veth pair, and attaches an
// XDP_PASS program on both ends (veth needs one on the sending side for
// XDP_TX and on the receiving side to accept XDP frames).
func NewTopology() (t *Topology, err error) {
	t = &Topology{}
	defer func() {
		if err != nil {
			t.Close()
		}
	}()
	if t.Gen, err = newNetns("bfbench-gen"); err != nil {
		return t, err
	}
	if t.DUT, err = newNetns("bfbench-dut"); err != nil {
		return t, err
	}
	steps := [][]string{
		{"ip", "link", "add", "g0", "type", "veth", "peer", "name", "d0", "netns", t.DUT.Name},
		{"ip", "addr", "add", GenAddr + "/24", "dev", "g0"},
		{"ip", "link", "set", "g0", "up"},
	}
	for _, s := range steps {
		if err := t.Gen.Run(s...); err != nil {
			return t, err
		}
	}
	for _, s := range [][]string{
		{"ip", "addr", "add", DUTAddr + "/24", "dev", "d0"},
		{"ip", "link", "set", "d0", "up"},
	} {
		if err := t.DUT.Run(s...); err != nil {
			return t, err
		}
	}
	t.pass, err = ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:    ebpf.XDP,
		License: "GPL",
		Instructions: asm.Instructions{
			asm.Mov.Imm(asm.R0, 2), // XDP_PASS
			asm.Return(),
		},
	})
	if err != nil {
		return t, fmt.Errorf("load XDP_PASS program: %w", err)
	}
	if err := t.Gen.Do(func() error {
		t.GenIf, err = net.InterfaceByName("g0")
		if err != nil {
			return err
		}
		t.genXDP, err = link.AttachXDP(link.XDPOptions{Program: t.pass, Interface: t.GenIf.Index, Flags: link.XDPDriverMode})
		return err
	}); err != nil {
		return t, fmt.Errorf("attach XDP on g0: %w", err)
	}
	if err := t.DUT.Do(func() error {
		t.DUTIf, err = net.InterfaceByName("d0")
		return err
	}); err != nil {
		return t, err
	}
	return t, t.AttachDUTPass()
}

// AttachDUTPass attaches the XDP_PASS program on d0 (a firewall that brings
// its own XDP program detaches it first with DetachDUTPass).
func (t *Topology) AttachDUTPass() error {
	if t.dutXDP != nil {
		return nil
	}
	return t.DUT.Do(func() (err error) {
		t.dutXDP, err = link.AttachXDP(link.XDPOptions{Program: t.pass, Interface: t.DUTIf.Index, Flags: link.XDPDriverMode})
		if err != nil {
			return fmt.Errorf("attach XDP on d0: %w", err)
		}
		return nil
	})
}

// DetachDUTPass removes the XDP_PASS program from d0.
func (t *Topology) DetachDUTPass() error {
	if t.dutXDP == nil {
		return nil
	}
	err := t.dutXDP.Close()
	t.dutXDP = nil
	return err
}

// Close removes everything the topology created. It can be called twice.
func (t *Topology) Close() {
	if t.genXDP != nil {
		t.genXDP.Close()
		t.genXDP = nil
	}
	if t.dutXDP != nil {
		t.dutXDP.Close()
		t.dutXDP = nil
	}
	if t.pass != nil {
		t.pass.Close()
		t.pass = nil
	}
	if t.Gen != nil {
		t.Gen.Delete()
	}
	if t.DUT != nil {
		t.DUT.Delete()
	}
}

// Delivered returns how many UDP datagrams the DUT's stack received
// (delivered to a socket or found no socket): the packets the firewall let
// through to the UDP layer.
func (t *Topology) Delivered() (uint64, error) {
	out, err := t.DUT.Output("cat", "/proc/net/snmp")
	if err != nil {
		return 0, err
	}
	var names []string
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "Udp: ") {
			continue
		}
		fields := strings.Fields(line)[1:]
		if names == nil {
			names = fields
			continue
		}
		var total uint64
		for i, n := range names {
			if (n == "InDatagrams" || n == "NoPorts") && i < len(fields) {
				v, err := strconv.ParseUint(fields[i], 10, 64)
				if err != nil {
					return 0, fmt.Errorf("parse Udp %s: %w", n, err)
				}
				total += v
			}
		}
		return total, nil
	}
	return 0, fmt.Errorf("no Udp counters in /proc/net/snmp")
}

// udpFrame builds a 64-byte Ethernet/IPv4/UDP frame from gen to dut.
func udpFrame(src, dst net.HardwareAddr) []byte {
	const frameLen = 64
	b := make([]byte, frameLen)
	copy(b[0:6], dst)
	copy(b[6:12], src)
	binary.BigEndian.PutUint16(b[12:], 0x0800)
	ip := b[14:34]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], frameLen-14)
	binary.BigEndian.PutUint16(ip[6:], 0x4000)
	ip[8] = 64
	ip[9] = 17
	copy(ip[12:16], net.ParseIP(GenAddr).To4())
	copy(ip[16:20], net.ParseIP(DUTAddr).To4())
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	udp := b[34:]
	binary.BigEndian.PutUint16(udp[0:], 40000)
	binary.BigEndian.PutUint16(udp[2:], DUTPort)
	binary.BigEndian.PutUint16(udp[4:], uint16(len(udp)))
	return b
}
