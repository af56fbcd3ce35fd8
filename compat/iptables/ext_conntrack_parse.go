package iptables

import (
	"math"
	"math/bits"
	"net/netip"
	"strings"

	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
)

// Option parsing of libxt_conntrack revision 3 as iptables-legacy 1.8.9
// does it (xtables' XTTYPE_PORTRC and XTTYPE_HOSTMASK), quirks included:
// checked against iptables-legacy by TestOracleConntrackOptions.

// cStrtoul is C strtoul(s, &end, base) requiring the whole string to be
// consumed: leading white space and one sign are allowed, a minus negates
// modulo 2^64, overflow gives MaxUint64. ok is false without digits or
// with trailing characters.
func cStrtoul(s string, base int) (uint64, bool) {
	s = strings.TrimLeft(s, " \t\n\v\f\r")
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg, s = s[0] == '-', s[1:]
	}
	if base == 0 {
		switch {
		case len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'):
			base, s = 16, s[2:]
		case len(s) > 1 && s[0] == '0':
			base = 8
		default:
			base = 10
		}
	}
	if s == "" {
		return 0, false
	}
	var v uint64
	over := false
	for _, c := range s {
		var d int
		switch {
		case c >= '0' && c <= '9':
			d = int(c - '0')
		case c >= 'a' && c <= 'z':
			d = int(c-'a') + 10
		case c >= 'A' && c <= 'Z':
			d = int(c-'A') + 10
		default:
			return 0, false
		}
		if d >= base {
			return 0, false
		}
		hi, lo := bits.Mul64(v, uint64(base))
		sum, carry := bits.Add64(lo, uint64(d), 0)
		if hi != 0 || carry != 0 {
			over = true
		}
		v = sum
	}
	if over {
		return math.MaxUint64, true
	}
	if neg {
		v = -v
	}
	return v, true
}

// ctPortValue is one component of a conntrack port option: a service
// name, else a decimal number that becomes a C int (negative values are
// refused) stored in 16 bits, as xtables does.
func ctPortValue(s string) (uint16, error) {
	for _, proto := range []string{"tcp", "udp", "sctp", "dccp"} {
		if p, ok := loadServices().byName[s+"/"+proto]; ok {
			return p, nil
		}
	}
	v, ok := cStrtoul(s, 10)
	if !ok || int32(uint32(v)) < 0 {
		return 0, paramErr("Port \"%s\" does not resolve to anything.", s)
	}
	return uint16(v), nil
}

// ctParsePorts parses a conntrack port option: "p", "lo:hi", ":hi",
// "lo:" or ":" (an empty low bound is 0, an empty high bound 65535); a
// single port is the range [p, p]. The bounds are not ordered.
func ctParsePorts(opt, s string) (lo, hi uint16, err error) {
	parts := strings.Split(s, ":")
	if len(parts) > 2 {
		return 0, 0, paramErr("conntrack: Too many components for option \"--%s\" (max: 2)", opt)
	}
	var r [2]uint16
	for i, p := range parts {
		if p == "" {
			if i > 0 {
				r[i] = math.MaxUint16
			}
			continue
		}
		if r[i], err = ctPortValue(p); err != nil {
			return 0, 0, err
		}
	}
	return r[0], r[len(parts)-1], nil
}

// ctParseAddr parses a conntrack address option "addr[/len|/mask]": the
// address is kept unmasked; the mask covers the 16 bytes of union
// nf_inet_addr (all ones without one); a prefix length is a C unsigned
// number up to 32 (IPv4) or 128 (IPv6); anything else is read as a numeric
// address (IPv4 in inet_aton's forms, so "33" is 0.0.0.33) and a mask
// that is not a prefix counts as all ones.
func ctParseAddr(fam abi.Family, opt, s string) (addr, mask [16]byte, err error) {
	host, maskStr, hasMask := strings.Cut(s, "/")
	am, err := parseAddrMask(fam, host)
	if err != nil {
		return addr, mask, err
	}
	addr = addrBytes(am.addr)
	plen := uint64(128)
	if hasMask {
		maxLen := uint64(128)
		if fam == abi.IPv4 {
			maxLen = 32
		}
		if n, ok := cStrtoul(maskStr, 0); ok && n <= maxLen {
			plen = n
		} else if m, ok := ctNumericMask(fam, maskStr); ok {
			if n, ok := maskLen(m); ok {
				plen = uint64(n)
			}
		} else {
			width := 32
			if fam == abi.IPv6 {
				width = 128
			}
			return addr, mask, paramErr("conntrack: bad value for option \"--%s\", neither a valid network mask nor valid CIDR (0-%d).", opt, width)
		}
	}
	for i := range mask {
		switch {
		case plen >= uint64(8*(i+1)):
			mask[i] = 0xff
		case plen > uint64(8*i):
			mask[i] = byte(0xff << (8 - (plen - uint64(8*i))))
		}
	}
	return addr, mask, nil
}

// ctNumericMask reads a mask as a numeric address of the family, as
// getaddrinfo with AI_NUMERICHOST does (IPv4: inet_aton's "a", "a.b",
// "a.b.c" and "a.b.c.d" forms with C number syntax, nothing trailing).
func ctNumericMask(fam abi.Family, s string) (netip.Addr, bool) {
	if fam == abi.IPv6 {
		a, err := netip.ParseAddr(s)
		return a, err == nil && a.Is6() && !a.Is4In6() && a.Zone() == ""
	}
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	var v uint64
	for i, p := range parts {
		if p == "" || p[0] < '0' || p[0] > '9' {
			return netip.Addr{}, false
		}
		n, ok := cStrtoul(p, 0)
		if !ok {
			return netip.Addr{}, false
		}
		if i < len(parts)-1 {
			if n > 0xff {
				return netip.Addr{}, false
			}
			v = v<<8 | n
			continue
		}
		rest := uint(8 * (4 - i))
		if n >= 1<<rest {
			return netip.Addr{}, false
		}
		v = v<<rest | n
	}
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true
}

// ctParseExpire parses --ctexpire "a", "a:b", ":b", "a:" or ":" (C
// unsigned numbers up to 2^32-1; an empty low bound is 0, an empty high
// bound the maximum; the bounds are not ordered).
func ctParseExpire(s string) (lo, hi uint32, err error) {
	parts := strings.Split(s, ":")
	if len(parts) > 2 {
		return 0, 0, paramErr("conntrack: Too many components for option \"--ctexpire\" (max: 2)")
	}
	var r [2]uint32
	for i, p := range parts {
		if p == "" {
			if i > 0 {
				r[i] = math.MaxUint32
			}
			continue
		}
		n, ok := cStrtoul(p, 0)
		if !ok || n > math.MaxUint32 {
			return 0, 0, paramErr("conntrack: bad value for option \"--ctexpire\" near \"%s\", or out of range (0-4294967295).", p)
		}
		r[i] = uint32(n)
	}
	return r[0], r[len(parts)-1], nil
}
