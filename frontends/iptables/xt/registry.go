// Package xt decodes and encodes the data of xtables matches and targets
// (the bytes after an xt_entry_match or xt_entry_target header), keyed by
// kind, name, revision and family, into typed structs that mirror the uapi
// headers. Extensions without a codec are kept as raw bytes by the abi
// package; nothing here drops them.
package xt

import (
	"encoding/binary"
	"errors"
	"fmt"
)

var ne = binary.NativeEndian

// Kind is match or target.
type Kind uint8

// The two kinds of extension.
const (
	Match Kind = iota
	Target
)

// String returns "match" or "target".
func (k Kind) String() string {
	if k == Target {
		return "target"
	}
	return "match"
}

// Family restricts a codec to IPv4 (4), IPv6 (6) or both (0).
type Family uint8

// Families a codec can apply to.
const (
	Any  Family = 0
	IPv4 Family = 4
	IPv6 Family = 6
)

// Info is the typed data of one extension. Marshal returns exactly the
// bytes of the data as they appear in a blob (XT_ALIGN padded).
type Info interface {
	Marshal() []byte
}

// Codec describes one (kind, name, revision, family) extension.
type Codec struct {
	Kind     Kind
	Name     string
	Revision uint8
	Family   Family
	// Size is the data size in the blob: XT_ALIGN(sizeof(struct)).
	Size int
	// UserSize is the number of leading data bytes that describe the rule
	// (libxtables' userspacesize); the rest is kernel-private state that
	// rule comparisons ignore.
	UserSize int
	decode   func(b []byte) Info
}

type key struct {
	kind Kind
	name string
	rev  uint8
	fam  Family
}

var registry = map[key]*Codec{}

func register(c *Codec) {
	k := key{c.Kind, c.Name, c.Revision, c.Family}
	if _, dup := registry[k]; dup {
		panic("xt: duplicate codec " + c.Name)
	}
	if c.UserSize == 0 {
		c.UserSize = c.Size
	}
	registry[k] = c
}

// Lookup returns the codec for the extension in the family, or nil.
func Lookup(kind Kind, fam Family, name string, rev uint8) *Codec {
	if c, ok := registry[key{kind, name, rev, fam}]; ok {
		return c
	}
	return registry[key{kind, name, rev, Any}]
}

// ErrUnknown is returned by Decode for extensions without a codec.
var ErrUnknown = errors.New("no codec for extension")

// Decode decodes an extension's data. The data must have the codec's size.
func Decode(kind Kind, fam Family, name string, rev uint8, data []byte) (Info, error) {
	c := Lookup(kind, fam, name, rev)
	if c == nil {
		return nil, fmt.Errorf("%s %q revision %d: %w", kind, name, rev, ErrUnknown)
	}
	return c.Decode(data)
}

// Decode decodes data of this codec's extension.
func (c *Codec) Decode(data []byte) (Info, error) {
	if len(data) != c.Size {
		return nil, fmt.Errorf("%s %q revision %d: data is %d bytes, want %d", c.Kind, c.Name, c.Revision, len(data), c.Size)
	}
	return c.decode(data), nil
}

// Codecs returns every registered codec.
func Codecs() []*Codec {
	out := make([]*Codec, 0, len(registry))
	for _, c := range registry {
		out = append(out, c)
	}
	return out
}

func cstr(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
