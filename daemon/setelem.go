package daemon

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/bpfilter-go/bpfilter/ir"
)

// parseElem parses a set element written as bfcli writes it: one value per
// key component, comma-separated ("10.0.0.1, 80").
func parseElem(st *ir.Set, text string, env ir.ParseEnv) (ir.SetElem, error) {
	parts := strings.Split(text, ",")
	if len(parts) != len(st.Key) {
		return ir.SetElem{}, fmt.Errorf("element %q has %d components, set %s has %d", text, len(parts), st.Name, len(st.Key))
	}
	var key []byte
	prefix := 0
	for i, f := range st.Key {
		v, mask, err := f.Info().Kind.Parse(strings.TrimSpace(parts[i]), env)
		if err != nil {
			return ir.SetElem{}, fmt.Errorf("element %q, %s: %w", text, f, err)
		}
		if st.IsLPM() {
			prefix = len(v) * 8
			if mask != nil {
				prefix = ir.PrefixLen(mask)
			}
		} else if mask != nil && !bytes.Equal(mask, bytes.Repeat([]byte{0xff}, len(mask))) {
			return ir.SetElem{}, fmt.Errorf("element %q, %s: a mask is not allowed here", text, f)
		}
		key = append(key, v...)
	}
	return ir.SetElem{Key: key, PrefixLen: prefix}, nil
}

func sameElem(a, b ir.SetElem) bool { return a.PrefixLen == b.PrefixLen && bytes.Equal(a.Key, b.Key) }
