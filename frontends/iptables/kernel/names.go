package kernel

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
)

// TableNames lists the tables that exist in the calling thread's network
// namespace, from /proc/thread-self/net/ip_tables_names (or
// ip6_tables_names), like iptables-save. Unlike SO_GET_INFO on a guessed
// name, reading the list never instantiates a table.
func TableNames(fam abi.Family) ([]string, error) {
	file := "/proc/thread-self/net/ip_tables_names"
	if fam == abi.IPv6 {
		file = "/proc/thread-self/net/ip6_tables_names"
	}
	f, err := os.Open(file)
	if os.IsNotExist(err) {
		return nil, nil // x_tables for this family is not loaded: no tables
	}
	if err != nil {
		return nil, fmt.Errorf("list %s tables: %w", fam, err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if n := strings.TrimSpace(sc.Text()); n != "" {
			out = append(out, n)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("list %s tables: %w", fam, err)
	}
	return out, nil
}

// ReadTables reads and decodes the named tables.
func (c *Conn) ReadTables(names []string) ([]*abi.Table, error) {
	var out []*abi.Table
	for _, n := range names {
		t, _, _, err := c.ReadTable(n)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}
