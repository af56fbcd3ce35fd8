package abi

import "fmt"

// DecodeReplace decodes a whole SO_SET_REPLACE request (ipt_replace header
// and entries), as a daemon receiving iptables' request does.
func DecodeReplace(fam Family, req []byte) (*Table, Replace, error) {
	rep, blob, err := UnmarshalReplace(req)
	if err != nil {
		return nil, rep, err
	}
	t, err := Decode(fam, rep.Info(), blob)
	if err != nil {
		return nil, rep, err
	}
	return t, rep, nil
}

// AnswerGetInfo returns the SO_GET_INFO answer for a table: its header as
// Encode lays it out.
func AnswerGetInfo(t *Table) (Info, error) {
	rep, _, err := Encode(t)
	if err != nil {
		return Info{}, err
	}
	return rep.Info(), nil
}

// AnswerGetEntries returns the SO_GET_ENTRIES answer (ipt_get_entries
// header and entries) for a request of size bytes; like the kernel it
// refuses a size that does not match the table's.
func AnswerGetEntries(t *Table, size uint32) ([]byte, error) {
	rep, blob, err := Encode(t)
	if err != nil {
		return nil, err
	}
	if size != rep.Size {
		return nil, fmt.Errorf("get entries of table %q: size %d, table has %d", t.Name, size, rep.Size)
	}
	b := MarshalGetEntriesRequest(t.Name, rep.Size)
	copy(b[GetEntriesHeaderSize:], blob)
	return b, nil
}
