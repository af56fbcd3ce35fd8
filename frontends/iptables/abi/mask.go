package abi

import (
	"encoding/hex"
	"fmt"
	"strings"
)

// MaskVolatile returns a copy of an entries blob with the fields the kernel
// or the traffic changes zeroed: every entry's comefrom and counters. Two
// blobs that describe the same table compare equal after masking. A blob
// that cannot be walked is returned unchanged after the walkable part.
func MaskVolatile(fam Family, blob []byte) []byte {
	out := append([]byte(nil), blob...)
	_, _, noOff, cfOff, cOff := entryOffsets(fam)
	esize := fam.EntrySize()
	for off := 0; off+esize <= len(out); {
		b := out[off:]
		clear(b[cfOff : cfOff+4])
		clear(b[cOff : cOff+CountersSize])
		next := int(ne.Uint16(b[noOff:]))
		if next == 0 {
			break
		}
		off += next
	}
	return out
}

// DiffBlobs describes where two entries blobs first differ, entry by entry,
// for test failure messages.
func DiffBlobs(fam Family, got, want []byte) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "sizes: got %d, want %d\n", len(got), len(want))
	n := min(len(got), len(want))
	for i := 0; i < n; i++ {
		if got[i] != want[i] {
			start := max(0, i-16) &^ 15
			end := min(n, start+96)
			fmt.Fprintf(&sb, "first difference at byte %d\ngot:\n%swant:\n%s", i,
				hex.Dump(got[start:end]), hex.Dump(want[start:end]))
			return sb.String()
		}
	}
	return sb.String()
}
