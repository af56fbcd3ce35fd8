package daemon

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/bpfilter-go/bpfilter/engine"
	"github.com/bpfilter-go/bpfilter/ir"
)

// The context is persisted as a snapshot (context.json, every chain) and
// an append-only journal (context.journal) of the changes since: an update
// appends one small record instead of re-encoding every chain. See
// docs/PROTOCOL.md, "Context file".
//
// Journal file: a sequence of frames, each
//
//	uint32 little-endian payload length
//	uint32 little-endian CRC-32C of the payload
//	payload (one JSON journalRecord)
//
// written with one write and made durable (fdatasync) before the update
// goes on. The first record is the header: sequence 0 and the epoch of the
// snapshot it continues. Records carry consecutive sequence numbers.
//
// Compaction writes a new snapshot with the next epoch (atomically: temp
// file, fsync, rename, directory fsync), then a new journal holding only
// its header (atomically too). A crash between the two leaves a journal of
// an older epoch, which restore ignores: the snapshot holds all it said.

// JournalFileName is the context journal's name in the runtime dir.
const JournalFileName = "context.journal"

// frameHeader is the size of a frame's length and checksum.
const frameHeader = 8

// maxRecord bounds a record's payload (a whole ruleset plan fits).
const maxRecord = 1 << 30

// journalMinCompact is the journal size below which no compaction happens;
// above it, the journal is compacted once it outgrows twice the snapshot.
const journalMinCompact = 4 << 20

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// frame returns payload framed.
func frame(payload []byte) []byte {
	b := make([]byte, frameHeader, frameHeader+len(payload))
	binary.LittleEndian.PutUint32(b[0:4], uint32(len(payload)))
	binary.LittleEndian.PutUint32(b[4:8], crc32.Checksum(payload, crcTable))
	return append(b, payload...)
}

// splitFrames returns the payloads of the complete, intact frames at the
// start of b, and the offset where they end. A torn or corrupt frame ends
// the journal: it and what follows are not returned (tail reports how
// many bytes were dropped). It never panics.
func splitFrames(b []byte) (payloads [][]byte, end int, tail int) {
	off := 0
	for {
		rest := len(b) - off
		if rest < frameHeader {
			return payloads, off, rest
		}
		n := binary.LittleEndian.Uint32(b[off : off+4])
		sum := binary.LittleEndian.Uint32(b[off+4 : off+8])
		if n > maxRecord || uint64(n) > uint64(rest-frameHeader) {
			return payloads, off, rest
		}
		p := b[off+frameHeader : off+frameHeader+int(n)]
		if crc32.Checksum(p, crcTable) != sum {
			return payloads, off, rest
		}
		payloads = append(payloads, p)
		off += frameHeader + int(n)
	}
}

// journal is the open journal of a persistent State.
type journal struct {
	path  string
	f     *os.File
	epoch uint64
	// seq is the sequence number of the last record written.
	seq uint64
	// size is the journal's size; snapSize the last snapshot's.
	size, snapSize int64
	// pending is the plan the last plan record wrote ahead and no commit
	// record has ended yet; chains are its entries' chains at that time
	// (a commit record is only valid for those).
	pending *plan
	chains  []*ir.Chain
	// bases are, per plan chain recorded as a patch, the counter slots of
	// the committed entry it patches (commit records give the new slots
	// relative to them; nil: recorded whole).
	bases []*engine.Slots
}

// journalPath is the journal next to the context file.
func journalPath(ctxFile string) string {
	return filepath.Join(filepath.Dir(ctxFile), JournalFileName)
}

// append writes one record, and with sync makes it durable (fdatasync;
// that also makes every earlier record durable). On error the journal
// must not be appended to again (its tail may be torn): the caller drops
// it, and the next save writes a snapshot.
func (j *journal) append(payload []byte, kind string, sync bool, crash func(string)) error {
	b := frame(payload)
	if crash != nil {
		// Tests: a kill in the middle of the record (a torn tail).
		half := len(b) / 2
		if _, err := j.f.Write(b[:half]); err != nil {
			return fmt.Errorf("appending to %s: %w", j.path, err)
		}
		crash("journal-torn-" + kind)
		b = b[half:]
	}
	if _, err := j.f.Write(b); err != nil {
		return fmt.Errorf("appending to %s: %w", j.path, err)
	}
	if sync {
		if err := unix.Fdatasync(int(j.f.Fd())); err != nil {
			return fmt.Errorf("syncing %s: %w", j.path, os.NewSyscallError("fdatasync", err))
		}
	}
	j.size += int64(frameHeader + len(payload))
	return nil
}

// tooBig reports whether the journal should be compacted.
func (j *journal) tooBig() bool {
	return j.size > journalMinCompact && j.size > 2*j.snapSize
}

func (j *journal) close() {
	if j != nil && j.f != nil {
		j.f.Close()
		j.f = nil
	}
}

// createJournal atomically replaces the journal at path by one holding
// only the header of epoch, and opens it for appending.
func createJournal(path string, epoch uint64, snapSize int64) (*journal, error) {
	hdr, err := encodeRecord(&journalRecord{Seq: 0, Epoch: epoch})
	if err != nil {
		return nil, err
	}
	b := frame(hdr)
	if err := writeFileAtomic(path, b); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	return &journal{path: path, f: f, epoch: epoch, size: int64(len(b)), snapSize: snapSize}, nil
}

// readJournal returns the records of the journal at path continuing the
// snapshot of epoch: none when the file is missing or belongs to another
// epoch (a compaction was interrupted after its snapshot). A torn tail is
// dropped (dropped > 0); a damaged header, an intact record that does not
// decode, or a sequence gap is an error.
// floor, when not nil, receives the journal's own epoch (new epochs are
// made above it and the snapshot's).
func readJournal(path string, epoch uint64, floor *uint64) (recs []*journalRecord, dropped int, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("reading %s: %w", path, err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, 0, fmt.Errorf("reading %s: %w", path, err)
	}
	if floor != nil {
		*floor = journalEpoch(b)
	}
	return decodeJournal(b, epoch)
}

// journalEpoch returns the epoch in the header of journal bytes b (0 when
// there is no intact header).
func journalEpoch(b []byte) uint64 {
	payloads, _, _ := splitFrames(b)
	if len(payloads) == 0 {
		return 0
	}
	hdr, err := decodeRecord(payloads[0])
	if err != nil || !hdr.isHeader() {
		return 0
	}
	return hdr.Epoch
}

// decodeJournal is readJournal on the file's bytes.
func decodeJournal(b []byte, epoch uint64) ([]*journalRecord, int, error) {
	payloads, _, tail := splitFrames(b)
	if len(payloads) == 0 {
		if len(b) == 0 {
			return nil, 0, nil
		}
		return nil, 0, errors.New("the journal header is torn or damaged")
	}
	hdr, err := decodeRecord(payloads[0])
	if err != nil {
		return nil, 0, fmt.Errorf("journal header: %w", err)
	}
	if hdr.Seq != 0 || hdr.Epoch == 0 || !hdr.isHeader() {
		return nil, 0, errors.New("the journal does not start with a header record")
	}
	if hdr.Epoch != epoch {
		return nil, 0, nil
	}
	recs := make([]*journalRecord, 0, len(payloads)-1)
	for i, p := range payloads[1:] {
		r, err := decodeRecord(p)
		if err != nil {
			return nil, 0, fmt.Errorf("journal record %d: %w", i+1, err)
		}
		if r.Seq != uint64(i+1) {
			return nil, 0, fmt.Errorf("journal record %d has sequence number %d", i+1, r.Seq)
		}
		if r.isHeader() || r.kinds() != 1 {
			return nil, 0, fmt.Errorf("journal record %d: want exactly one of plan or commit", i+1)
		}
		recs = append(recs, r)
	}
	return recs, tail, nil
}
