package ir

import (
	"bytes"
	"fmt"
	"strings"
)

// Ranges returns the (low, high) bounds of an OpRanges match.
func (m *Match) Ranges() [][2][]byte {
	w := m.Field.Width()
	if w == 0 || len(m.Value) != len(m.High) || len(m.Value)%w != 0 {
		return nil
	}
	out := make([][2][]byte, 0, len(m.Value)/w)
	for i := 0; i < len(m.Value); i += w {
		out = append(out, [2][]byte{m.Value[i : i+w], m.High[i : i+w]})
	}
	return out
}

// rangesProblems checks an OpRanges match's bounds.
func rangesProblems(m Match) []string {
	w := m.Field.Width()
	n := len(m.Value) / max(w, 1)
	switch {
	case m.Mask != nil:
		return []string{fmt.Sprintf("matcher %s: ranges take no mask", m.Field)}
	case len(m.Value) == 0 || len(m.Value)%w != 0 || len(m.High) != len(m.Value):
		return []string{fmt.Sprintf("matcher %s: ranges need low and high bounds of %d bytes each", m.Field, w)}
	case n > MaxRanges:
		return []string{fmt.Sprintf("matcher %s: %d ranges, at most %d", m.Field, n, MaxRanges)}
	}
	for _, r := range m.Ranges() {
		if bytes.Compare(r[0], r[1]) > 0 {
			return []string{fmt.Sprintf("matcher %s: range %s is empty (start > end)", m.Field, formatRanges(m))}
		}
	}
	return nil
}

// formatRanges prints the ranges of an OpRanges match: "80,1000-2000".
func formatRanges(m Match) string {
	k := m.Field.Info().Kind
	var parts []string
	for _, r := range m.Ranges() {
		if bytes.Equal(r[0], r[1]) {
			parts = append(parts, k.Format(r[0], nil))
		} else {
			parts = append(parts, k.Format(r[0], nil)+"-"+k.Format(r[1], nil))
		}
	}
	return strings.Join(parts, ",")
}
