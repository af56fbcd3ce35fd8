package iptables

import (
	"math/bits"
	"net/netip"
	"strconv"
	"strings"

	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
)

// addrMask is an address with its mask, both of the family's width.
type addrMask struct {
	addr, mask netip.Addr
}

func fullMask(fam abi.Family, ones int) netip.Addr {
	n := 32
	if fam == abi.IPv6 {
		n = 128
	}
	b := make([]byte, n/8)
	for i := 0; i < ones; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

func zeroAddr(fam abi.Family) netip.Addr {
	if fam == abi.IPv6 {
		return netip.IPv6Unspecified()
	}
	return netip.AddrFrom4([4]byte{})
}

func andAddr(a, m netip.Addr) netip.Addr {
	x, y := a.AsSlice(), m.AsSlice()
	for i := range x {
		x[i] &= y[i]
	}
	r, _ := netip.AddrFromSlice(x)
	return r
}

// parseAddrList parses the argument of -s/-d (xtables_ipparse_multiple):
// comma-separated addresses, each with an optional /prefix or /mask.
// Host names are refused: resolving them would make the ruleset depend on
// DNS at load time.
func parseAddrList(fam abi.Family, s string) ([]addrMask, error) {
	var out []addrMask
	for _, item := range strings.Split(s, ",") {
		am, err := parseAddrMask(fam, item)
		if err != nil {
			return nil, err
		}
		out = append(out, am)
	}
	return out, nil
}

func parseAddrMask(fam abi.Family, s string) (addrMask, error) {
	host, maskStr, hasMask := strings.Cut(s, "/")
	width := 32
	if fam == abi.IPv6 {
		width = 128
	}
	a, err := netip.ParseAddr(host)
	if err != nil || (fam == abi.IPv4) != a.Is4() || a.Zone() != "" {
		if host == "" || strings.ContainsAny(host, ":") == (fam == abi.IPv4) || err == nil {
			return addrMask{}, paramErr("host/network `%s' not found", host)
		}
		return addrMask{}, paramErr("host/network `%s' not found (host names are not supported: use an address)", host)
	}
	m := fullMask(fam, width)
	if hasMask {
		if n, err := strconv.Atoi(maskStr); err == nil && !strings.HasPrefix(maskStr, "+") {
			if n < 0 || n > width {
				return addrMask{}, paramErr("invalid mask `%s' specified", maskStr)
			}
			m = fullMask(fam, n)
		} else {
			mm, err := netip.ParseAddr(maskStr)
			if err != nil || (fam == abi.IPv4) != mm.Is4() {
				return addrMask{}, paramErr("invalid mask `%s' specified", maskStr)
			}
			m = mm
		}
	}
	return addrMask{addr: andAddr(a, m), mask: m}, nil
}

// maskString is mask_to_str: the prefix length when the mask is
// contiguous, else the mask as an address.
func maskString(m netip.Addr) string {
	if n, ok := maskLen(m); ok {
		return strconv.Itoa(n)
	}
	return m.String()
}

// maskLen returns the prefix length of a contiguous mask.
func maskLen(m netip.Addr) (int, bool) {
	b := m.AsSlice()
	n := 0
	i := 0
	for ; i < len(b) && b[i] == 0xff; i++ {
		n += 8
	}
	if i < len(b) {
		l := bits.LeadingZeros8(^b[i])
		if b[i] != byte(0xff<<(8-l)) {
			return 0, false
		}
		n += l
		for i++; i < len(b); i++ {
			if b[i] != 0 {
				return 0, false
			}
		}
	}
	return n, true
}

func addrText(a netip.Addr) string {
	if !a.IsValid() {
		return "?"
	}
	return a.String()
}
