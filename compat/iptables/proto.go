package iptables

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"sync"
)

// chainProtos is libxtables' built-in protocol table (xtables_chain_protos),
// used when /etc/protocols does not know a name.
var chainProtos = []struct {
	name string
	num  uint16
}{
	{"tcp", 6}, {"sctp", 132}, {"udp", 17}, {"udplite", 136}, {"icmp", 1},
	{"ipv6-icmp", 58}, {"icmpv6", 58}, {"esp", 50}, {"ah", 51}, {"ipv6-mh", 135},
	{"mh", 135}, {"all", 0},
}

type protoDB struct {
	byName map[string]uint16
	byNum  map[uint16]string
}

var (
	protosOnce sync.Once
	protos     protoDB
)

// forEachDBLine calls fn with the fields of every line of a netdb-style
// file (/etc/services, /etc/protocols) that has at least two fields once
// comments are cut. A missing or unreadable file gives no lines, as the C
// library's lookups then find nothing.
func forEachDBLine(path string, fn func(fields []string)) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		if fs := strings.Fields(line); len(fs) >= 2 {
			fn(fs)
		}
	}
}

// loadProtocols reads /etc/protocols like getprotobyname/getprotobynumber:
// the first line naming a number wins for number lookups; names and
// aliases map to numbers.
func loadProtocols() protoDB {
	protosOnce.Do(func() {
		protos = protoDB{byName: map[string]uint16{}, byNum: map[uint16]string{}}
		forEachDBLine("/etc/protocols", func(fs []string) {
			n, err := strconv.ParseUint(fs[1], 10, 8)
			if err != nil {
				return
			}
			if _, ok := protos.byNum[uint16(n)]; !ok {
				protos.byNum[uint16(n)] = fs[0]
			}
			for _, name := range append([]string{fs[0]}, fs[2:]...) {
				if _, ok := protos.byName[name]; !ok {
					protos.byName[name] = uint16(n)
				}
			}
		})
	})
	return protos
}

// parseProto is xtables_parse_protocol: a number, "all", or a name from
// /etc/protocols or the built-in table; names are case-insensitive.
func parseProto(s string) (uint16, bool) {
	if n, err := strconv.ParseUint(s, 10, 8); err == nil {
		return uint16(n), true
	}
	l := strings.ToLower(s)
	// Like iptables, the built-in names come first: no /etc/protocols
	// lookup for the common ones.
	for _, p := range chainProtos {
		if p.name == l {
			return p.num, true
		}
	}
	if n, ok := loadProtocols().byName[l]; ok {
		return n, true
	}
	return 0, false
}

// protoName is proto_to_name: the built-in table first, then
// /etc/protocols; "" when neither knows the number.
func protoName(n uint16) string {
	for _, p := range chainProtos {
		if p.num == n {
			return p.name
		}
	}
	if n != 0 {
		if name, ok := loadProtocols().byNum[n]; ok {
			return name
		}
	}
	return ""
}
