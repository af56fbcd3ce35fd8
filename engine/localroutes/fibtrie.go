package localroutes

import (
	"bufio"
	"bytes"
	"strings"
)

// fibTrieMerged reports whether /proc/net/fib_trie text shows the local
// table sharing the main table's trie: the Local: section then lists the
// very routes of the Main: section. Without a Main: section (no main
// routes) the merge changes nothing and the answer is false.
func fibTrieMerged(text []byte) bool {
	sections := map[string]*strings.Builder{}
	var cur *strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(text))
	for sc.Scan() {
		l := sc.Text()
		if l != "" && l[0] != ' ' && strings.HasSuffix(l, ":") {
			cur = &strings.Builder{}
			sections[strings.TrimSuffix(l, ":")] = cur
			continue
		}
		if cur != nil {
			cur.WriteString(l)
			cur.WriteByte('\n')
		}
	}
	m, l := sections["Main"], sections["Local"]
	return m != nil && l != nil && m.Len() > 0 && m.String() == l.String()
}
