package testenv

import (
	"fmt"
	"net"
	"net/netip"
)

// ListenUDP opens a UDP socket bound to addr inside the namespace. The
// socket stays in the namespace and can be used from any goroutine.
func (n *Netns) ListenUDP(addr netip.AddrPort) (*net.UDPConn, error) {
	var c *net.UDPConn
	err := n.Do(func() error {
		var err error
		c, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(addr))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listen udp %s in %s: %w", addr, n.Name, err)
	}
	return c, nil
}

// DialUDP opens a UDP socket inside the namespace connected to dst.
func (n *Netns) DialUDP(dst netip.AddrPort) (*net.UDPConn, error) {
	var c *net.UDPConn
	err := n.Do(func() error {
		var err error
		c, err = net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(dst))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("dial udp %s in %s: %w", dst, n.Name, err)
	}
	return c, nil
}
