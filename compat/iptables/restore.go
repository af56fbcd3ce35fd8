package iptables

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
)

// RestoreOptions are iptables-restore's options.
type RestoreOptions struct {
	// NoFlush keeps the tables' contents (-n, --noflush).
	NoFlush bool
	// Test parses and checks without committing (-t, --test).
	Test bool
	// Counters applies [packets:bytes] counters (-c, --counters).
	Counters bool
	// Table restores only this table when not empty (-T).
	Table string
	// Verbose prints, like iptables-restore -v without --noflush, the
	// chains flushed and deleted and each rule added.
	Verbose bool
	// Out receives the verbose output; nil discards it.
	Out io.Writer
}

// RestoreError is a restore failure with the line it happened at.
type RestoreError struct {
	Line int
	Err  error
}

// Error formats the message like iptables-restore.
func (e *RestoreError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

// Unwrap returns the underlying error.
func (e *RestoreError) Unwrap() error { return e.Err }

// splitRestoreLine splits a rule line like iptables-restore's
// add_param_to_argv: blanks separate words, double quotes group (a closing
// quote always ends the word, so "" is an empty word), backslash escapes
// inside quotes.
func splitRestoreLine(line string) ([]string, error) {
	var out []string
	var cur strings.Builder
	quote, escaped, started := false, false, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		if quote {
			switch {
			case escaped:
				cur.WriteByte(c)
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				quote = false
				out = append(out, cur.String())
				cur.Reset()
				started = false
			default:
				cur.WriteByte(c)
			}
			continue
		}
		switch c {
		case '"':
			quote, started = true, true
		case ' ', '\t', '\n', '\r':
			if started {
				out = append(out, cur.String())
				cur.Reset()
				started = false
			}
		default:
			cur.WriteByte(c)
			started = true
		}
	}
	if quote {
		return nil, paramErr("Unterminated quote in line")
	}
	if started {
		out = append(out, cur.String())
	}
	return out, nil
}

func parseCounters(s string) (abi.Counters, bool) {
	if len(s) < 5 || s[0] != '[' || s[len(s)-1] != ']' {
		return abi.Counters{}, false
	}
	p, b, ok := strings.Cut(s[1:len(s)-1], ":")
	if !ok {
		return abi.Counters{}, false
	}
	np, err1 := strconv.ParseUint(p, 10, 64)
	nb, err2 := strconv.ParseUint(b, 10, 64)
	if err1 != nil || err2 != nil {
		return abi.Counters{}, false
	}
	return abi.Counters{Packets: np, Bytes: nb}, true
}

// Restore reads iptables-restore input and applies it. Each table is
// committed at its COMMIT line; a failure leaves the tables committed so
// far in place and the failing table unchanged, like iptables-restore.
func (ts *Tables) Restore(r io.Reader, opts RestoreOptions) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	var cur *Tables // a scratch set holding the table being restored
	var curName string
	n := 0
	fail := func(err error) error { return &RestoreError{Line: n, Err: err} }
	for sc.Scan() {
		n++
		line := strings.TrimRight(sc.Text(), " \t\r")
		trimmed := strings.TrimLeft(line, " \t")
		switch {
		case trimmed == "" || trimmed[0] == '#':
			continue
		case trimmed[0] == '*':
			if cur != nil {
				return otherErr("COMMIT expected at line %d", n)
			}
			curName = strings.TrimSpace(trimmed[1:])
			if opts.Table != "" && curName != opts.Table {
				curName = ""
				cur = &Tables{Family: ts.Family, tables: map[string]*abi.Table{}}
				continue
			}
			base, err := ts.Table(curName)
			if err != nil {
				return fail(err)
			}
			t := cloneTable(base)
			verbose := opts.Verbose && !opts.NoFlush && opts.Out != nil
			if verbose {
				for _, c := range base.Chains {
					fmt.Fprintf(opts.Out, "Flushing chain `%s'\n", c.Name)
				}
				for _, c := range base.Chains {
					if !c.Builtin() {
						fmt.Fprintf(opts.Out, "Deleting chain `%s'\n", c.Name)
					}
				}
			}
			if !opts.NoFlush {
				t, _ = NewTable(ts.Family, curName)
				// Policies survive a flush, as with iptables-restore.
				for _, c := range t.Chains {
					if o := base.Chain(c.Name); o != nil {
						c.Policy = o.Policy
					}
				}
			}
			// Policy counters restart from zero unless a chain line sets
			// them with --counters; only a --noflush restore without
			// --counters keeps the kernel's (what iptables-legacy-restore
			// does).
			if !opts.NoFlush || opts.Counters {
				for _, c := range t.Chains {
					if c.Builtin() {
						c.Counters, c.CountersSet = abi.Counters{}, true
					}
				}
			}
			cur = &Tables{Family: ts.Family, tables: map[string]*abi.Table{curName: t}, deferChecks: true}
		case trimmed == "COMMIT":
			if cur == nil {
				return fail(otherErr("COMMIT without table at line %d", n))
			}
			if curName != "" {
				if err := checkTable(ts.Family, cur.tables[curName]); err != nil {
					return fail(err)
				}
			}
			if curName != "" && !opts.Test {
				ts.tables[curName] = cur.tables[curName]
				ts.markCounters(curName)
			}
			cur, curName = nil, ""
		case trimmed[0] == ':':
			if cur == nil {
				return fail(otherErr("no table specified at line %d", n))
			}
			if curName == "" {
				continue
			}
			if err := restoreChainLine(cur.tables[curName], trimmed[1:], opts); err != nil {
				return fail(err)
			}
		default:
			if cur == nil {
				return fail(otherErr("no table specified at line %d", n))
			}
			if curName == "" {
				continue
			}
			words, err := splitRestoreLine(trimmed)
			if err != nil {
				return fail(err)
			}
			var counters abi.Counters
			hasCounters := false
			if len(words) > 0 && strings.HasPrefix(words[0], "[") {
				c, ok := parseCounters(words[0])
				if !ok {
					return fail(paramErr("Bad packet counter `%s'", words[0]))
				}
				counters, hasCounters, words = c, true, words[1:]
			}
			if skipOtherFamily(ts.Family, words) {
				continue
			}
			for _, w := range words {
				if w == "-t" || w == "--table" {
					return fail(paramErr("The -t option (seen in line %d) cannot be used in %s-restore.", n, famCmd(ts.Family)))
				}
			}
			cmd, err := ParseCommand(ts.Family, append([]string{"-t", curName}, words...))
			if err != nil {
				return fail(err)
			}
			if cmd.Spec != nil && hasCounters && opts.Counters {
				cmd.Spec.Counters = counters
			}
			out := io.Discard
			if opts.Verbose && !opts.NoFlush && opts.Out != nil {
				cmd.Verbose, out = true, opts.Out
			}
			if err := cur.Do(cmd, out); err != nil {
				return fail(err)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read restore input: %w", err)
	}
	if cur != nil {
		return otherErr("COMMIT expected at line %d", n+1)
	}
	return nil
}

// restoreChainLine handles ":CHAIN POLICY [packets:bytes]".
func restoreChainLine(t *abi.Table, rest string, opts RestoreOptions) error {
	f := strings.Fields(rest)
	if len(f) < 2 {
		return paramErr("Bad chain line `:%s'", rest)
	}
	name, policy := f[0], f[1]
	var counters abi.Counters
	if len(f) > 2 {
		c, ok := parseCounters(f[2])
		if !ok {
			return paramErr("invalid policy counters for chain '%s'", name)
		}
		counters = c
	}
	c := t.Chain(name)
	if c != nil && c.Builtin() {
		if policy == "-" {
			return paramErr("Can't set policy `%s' on `%s' line: built-in chain", policy, name)
		}
		v, ok := abi.VerdictByName(policy)
		if !ok || (v != abi.VerdictAccept && v != abi.VerdictDrop) {
			return otherErr("Can't set policy `%s' on `%s' line: Bad policy name", policy, name)
		}
		c.Policy = v
		if opts.Counters {
			c.Counters, c.CountersSet = counters, true
		}
		return nil
	}
	if policy != "-" {
		return paramErr("Can't set policy `%s' on `%s' line: Bad built-in chain name", policy, name)
	}
	if c != nil {
		// With --noflush an existing user chain is flushed.
		c.Rules = nil
		return nil
	}
	if err := checkChainName('N', name); err != nil {
		return err
	}
	insertChain(t, &abi.Chain{Name: name, Hook: -1})
	return nil
}

// skipOtherFamily tells whether a restore line is marked with -4 or -6 for
// the other family; iptables-restore ignores such lines.
func skipOtherFamily(fam abi.Family, words []string) bool {
	for _, w := range words {
		switch w {
		case "-4", "--ipv4":
			return fam == abi.IPv6
		case "-6", "--ipv6":
			return fam == abi.IPv4
		}
	}
	return false
}
