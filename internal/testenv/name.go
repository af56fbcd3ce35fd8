package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
)

// uniqueName returns prefix followed by 8 random hex digits; it fits an
// interface name (15 bytes) when prefix has at most 7 bytes.
func uniqueName(prefix string) (string, error) {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random name: %w", err)
	}
	return prefix + hex.EncodeToString(b[:]), nil
}
