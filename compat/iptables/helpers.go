package iptables

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
)

type servDB struct {
	byName map[string]uint16 // "name/proto"
	byPort map[string]string // "port/proto"
}

var (
	servOnce sync.Once
	servs    servDB
)

func loadServices() servDB {
	servOnce.Do(func() {
		servs = servDB{byName: map[string]uint16{}, byPort: map[string]string{}}
		forEachDBLine("/etc/services", func(fs []string) {
			ps, proto, ok := strings.Cut(fs[1], "/")
			if !ok {
				return
			}
			port, err := strconv.ParseUint(ps, 10, 16)
			if err != nil {
				return
			}
			k := ps + "/" + proto
			if _, dup := servs.byPort[k]; !dup {
				servs.byPort[k] = fs[0]
			}
			for _, n := range append([]string{fs[0]}, fs[2:]...) {
				if _, dup := servs.byName[n+"/"+proto]; !dup {
					servs.byName[n+"/"+proto] = uint16(port)
				}
			}
		})
	})
	return servs
}

// parsePort is xtables_parse_port: a number 0-65535 or a service name of
// the protocol.
func parsePort(s, proto string) (uint16, error) {
	if n, err := strconv.ParseUint(s, 10, 16); err == nil && !strings.HasPrefix(s, "+") {
		return uint16(n), nil
	}
	if proto != "" {
		if p, ok := loadServices().byName[s+"/"+proto]; ok {
			return p, nil
		}
	}
	return 0, paramErr("invalid port/service `%s' specified", s)
}

// portName is the service name for -L without -n, else the number.
func portName(p uint16, proto string, numeric bool) string {
	if !numeric && proto != "" {
		if n, ok := loadServices().byPort[fmt.Sprintf("%d/%s", p, proto)]; ok {
			return n
		}
	}
	return strconv.Itoa(int(p))
}

// parsePortRangeUnordered is parsePortRange without the min <= max check
// (libxt_udp's XTTYPE_PORTRC accepts a reversed range, which then never
// matches).
func parsePortRangeUnordered(s, proto string) ([2]uint16, error) {
	r, err := parsePortRange(s, proto)
	if err != nil && strings.Contains(err.Error(), "min > max") {
		lo, hi, _ := strings.Cut(s, ":")
		a, _ := parsePort(lo, proto)
		b, _ := parsePort(hi, proto)
		return [2]uint16{a, b}, nil
	}
	return r, err
}

// parsePortRange parses "a", "a:b", ":b", "a:" or ":".
func parsePortRange(s, proto string) ([2]uint16, error) {
	lo, hi, isRange := strings.Cut(s, ":")
	var r [2]uint16
	var err error
	if !isRange {
		if r[0], err = parsePort(s, proto); err != nil {
			return r, err
		}
		r[1] = r[0]
		return r, nil
	}
	r[1] = 0xffff
	if lo != "" {
		if r[0], err = parsePort(lo, proto); err != nil {
			return r, err
		}
	}
	if hi != "" {
		if r[1], err = parsePort(hi, proto); err != nil {
			return r, err
		}
	}
	if r[0] > r[1] {
		return r, paramErr("invalid portrange (min > max)")
	}
	return r, nil
}

// parseUint parses an unsigned number as xtables_strtoul_base does with
// base 0: leading white space, then an optional '+' ('-' is refused), then
// 0x/0X hex, a leading 0 octal, or decimal digits, all of the rest of s,
// within max. Go's base-0 syntax (underscores, 0b, 0o) is not accepted.
func parseUint(s string, max uint64) (uint64, bool) {
	s = strings.TrimLeft(s, " \t\n\v\f\r")
	if strings.HasPrefix(s, "-") {
		return 0, false
	}
	s = strings.TrimPrefix(s, "+")
	base := 10
	switch {
	case len(s) > 2 && (s[:2] == "0x" || s[:2] == "0X"):
		s, base = s[2:], 16
	case len(s) > 1 && s[0] == '0':
		s, base = s[1:], 8
	}
	if s == "" || strings.ContainsAny(s, "_+-") {
		return 0, false
	}
	n, err := strconv.ParseUint(s, base, 64)
	if err != nil || n > max {
		return 0, false
	}
	return n, true
}

// parseValueMask parses "value[/mask]" (xtables_parse_mark_mask).
func parseValueMask(s string) (uint32, uint32, bool) {
	v, m, hasMask := strings.Cut(s, "/")
	val, ok := parseUint(v, 0xffffffff)
	if !ok {
		return 0, 0, false
	}
	mask := uint64(0xffffffff)
	if hasMask {
		if mask, ok = parseUint(m, 0xffffffff); !ok {
			return 0, 0, false
		}
	}
	return uint32(val), uint32(mask), true
}

// saveString is xtables_save_string: a leading space, then the value bare
// when it is only [_-0-9a-zA-Z], else double-quoted with ", \ and '
// escaped.
func saveString(w *strings.Builder, v string) {
	w.WriteByte(' ')
	bare := v != ""
	for _, c := range []byte(v) {
		if !(c == '_' || c == '-' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
			bare = false
			break
		}
	}
	if bare {
		w.WriteString(v)
		return
	}
	w.WriteByte('"')
	for _, c := range []byte(v) {
		if c == '"' || c == '\\' || c == '\'' {
			w.WriteByte('\\')
		}
		w.WriteByte(c)
	}
	w.WriteByte('"')
}

func protoLabel(p uint16) string {
	switch p {
	case 6:
		return "tcp"
	case 17:
		return "udp"
	case 132:
		return "sctp"
	case 33:
		return "dccp"
	case 136:
		return "udplite"
	}
	return ""
}
