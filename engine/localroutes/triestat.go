package localroutes

import (
	"bufio"
	"bytes"
	"strconv"
	"strings"
)

// triestatLocalPrefixes returns the "Prefixes:" count of the Local:
// section of /proc/net/fib_triestat: the number of route entries
// (fib_alias) in the trie the local table looks up.
func triestatLocalPrefixes(text []byte) (int, bool) {
	sc := bufio.NewScanner(bytes.NewReader(text))
	inLocal := false
	for sc.Scan() {
		l := sc.Text()
		if l != "" && l[0] != '\t' && l[0] != ' ' && strings.HasSuffix(l, ":") {
			inLocal = l == "Local:"
			continue
		}
		f := strings.Fields(l)
		if inLocal && len(f) == 2 && f[0] == "Prefixes:" {
			n, err := strconv.Atoi(f[1])
			return n, err == nil
		}
	}
	return 0, false
}

// merged reports whether the local table shares the main table's trie:
// the local trie then holds the routes of both tables (the dumps list
// each table's own), while a separate local trie holds exactly the local
// table's. localRoutes and mainRoutes count every dumped route.
func merged(triestat []byte, localRoutes, mainRoutes int) bool {
	n, ok := triestatLocalPrefixes(triestat)
	return ok && mainRoutes > 0 && n == localRoutes+mainRoutes
}
