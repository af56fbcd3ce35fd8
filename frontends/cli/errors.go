package cli

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/bpfilter-go/bpfilter/ir"
)

// Pos is a position in bfcli text. Line and Column are 1-based; Column
// counts bytes.
type Pos struct {
	Filename string
	Line     int
	Column   int
}

// String prints "file:line:col", leaving out the parts that are unknown.
func (p Pos) String() string {
	s := p.Filename
	if p.Line > 0 {
		if s != "" {
			s += ":"
		}
		s += fmt.Sprintf("%d:%d", p.Line, p.Column)
	}
	return s
}

// Error is one problem found in bfcli text.
type Error struct {
	Pos Pos
	Msg string
}

// Error prints "file:line:col: message".
func (e *Error) Error() string {
	if p := e.Pos.String(); p != "" {
		return p + ": " + e.Msg
	}
	return e.Msg
}

// ErrorList is every problem found while parsing, in source order. A nil
// or empty list is not an error; use Err to turn a list into an error.
type ErrorList []*Error

// maxErrors bounds how many errors a parse reports.
const maxErrors = 10

// Add appends an error at pos.
func (l *ErrorList) Add(pos Pos, msg string) { *l = append(*l, &Error{Pos: pos, Msg: msg}) }

// Len is part of sort.Interface.
func (l ErrorList) Len() int { return len(l) }

// Swap is part of sort.Interface.
func (l ErrorList) Swap(i, j int) { l[i], l[j] = l[j], l[i] }

// Less orders errors by file, line and column.
func (l ErrorList) Less(i, j int) bool {
	a, b := l[i].Pos, l[j].Pos
	if a.Filename != b.Filename {
		return a.Filename < b.Filename
	}
	if a.Line != b.Line {
		return a.Line < b.Line
	}
	return a.Column < b.Column
}

// Sort sorts the list by position, keeping the order of errors at the same
// position.
func (l ErrorList) Sort() { sort.Stable(l) }

// Error prints every error, one per line.
func (l ErrorList) Error() string {
	switch len(l) {
	case 0:
		return "no errors"
	case 1:
		return l[0].Error()
	}
	lines := make([]string, len(l))
	for i, e := range l {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Err returns the list as an error, or nil when it is empty.
func (l ErrorList) Err() error {
	if len(l) == 0 {
		return nil
	}
	return l
}

// validationErrors turns the errors of ir.Ruleset.Validate into a
// positioned list.
func validationErrors(err error) ErrorList {
	var out ErrorList
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		var ie *ir.Error
		if errors.As(e, &ie) {
			pos := Pos{Filename: ie.Origin.File, Line: ie.Origin.Line, Column: ie.Origin.Column}
			msg := ie.Msg
			switch {
			case ie.Chain != "" && ie.Rule >= 0:
				msg = fmt.Sprintf("chain %s, rule %d: %s", ie.Chain, ie.Rule, msg)
			case ie.Chain != "":
				msg = fmt.Sprintf("chain %s: %s", ie.Chain, msg)
			}
			out.Add(pos, msg)
			return
		}
		out.Add(Pos{}, e.Error())
	}
	walk(err)
	return out
}
