package daemon

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/bpfilter-go/bpfilter/daemon/proto"
)

// journalState returns a persistent state holding chain a (inPlaceBase)
// with counters, and a snapshot of it, its journal holding the records of
// one in-place update-rules and one update-set.
func journalState(t *testing.T) *testState {
	t.Helper()
	ts := setupInPlace(t, true)
	if err := ts.ChainUpdateRules("cli", "a", []proto.RuleEdit{{Op: proto.EditInsert, Index: 1, Text: "rule tcp.dport 22 counter ACCEPT"}}, 3, ts.peer, false); err != nil {
		t.Fatal(err)
	}
	if err := ts.ChainUpdateSet("cli", "a", "s", []string{"198.18.0.9"}, nil, ts.peer, false); err != nil {
		t.Fatal(err)
	}
	return ts
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestJournalDecodeDamage: a journal cut at any byte, or with any byte
// changed, decodes to a prefix of its records (a torn or damaged tail is
// dropped) or to a clear error; it never panics and never yields a record
// that was not written.
func TestJournalDecodeDamage(t *testing.T) {
	ts := journalState(t)
	snap, err := decodeContext(readFile(t, ts.ctxFile))
	if err != nil {
		t.Fatal(err)
	}
	jb := readFile(t, journalPath(ts.ctxFile))
	full, dropped, err := decodeJournal(jb, snap.Epoch)
	if err != nil || dropped != 0 {
		t.Fatalf("intact journal: %v, %d bytes dropped", err, dropped)
	}
	// Setup's commit, then plan and commit of each update.
	if len(full) != 5 {
		t.Fatalf("%d records, want 5", len(full))
	}
	isPrefix := func(recs []*journalRecord) bool {
		if len(recs) > len(full) {
			return false
		}
		for i, r := range recs {
			if !reflect.DeepEqual(r, full[i]) {
				return false
			}
		}
		return true
	}
	payloads, _, _ := splitFrames(jb)
	hdrEnd := frameHeader + len(payloads[0])
	for cut := 0; cut < len(jb); cut++ {
		recs, _, err := decodeJournal(jb[:cut], snap.Epoch)
		if err == nil && !isPrefix(recs) {
			t.Fatalf("cut at %d: records that are not a prefix of the written ones", cut)
		}
		if err != nil && cut >= hdrEnd {
			// Past the header, a cut is a torn tail, never an error.
			t.Fatalf("cut at %d: %v", cut, err)
		}
	}
	for i := range jb {
		bad := bytes.Clone(jb)
		bad[i] ^= 0x5a
		recs, _, err := decodeJournal(bad, snap.Epoch)
		if err == nil && !isPrefix(recs) {
			t.Fatalf("byte %d changed: records that were not written", i)
		}
	}
	// An intact record that breaks the sequence is an error, not a tail.
	skip := frameHeader + len(payloads[1])
	gap := append(bytes.Clone(jb[:hdrEnd]), jb[hdrEnd+skip:]...)
	if _, _, err := decodeJournal(gap, snap.Epoch); err == nil || !strings.Contains(err.Error(), "sequence") {
		t.Fatalf("sequence gap: %v", err)
	}
	// An intact record that is not a record is an error.
	junk := append(bytes.Clone(jb), frame([]byte(`{"seq": 6, "surprise": 1}`))...)
	if _, _, err := decodeJournal(junk, snap.Epoch); err == nil {
		t.Fatal("an unknown record field was accepted")
	}
	// A journal of another epoch is ignored.
	if recs, _, err := decodeJournal(jb, snap.Epoch+1); err != nil || len(recs) != 0 {
		t.Fatalf("other epoch: %d records, %v", len(recs), err)
	}
}

// FuzzJournalDecode: decoding and replaying any bytes never panics, and
// what decodes replays or fails with an error.
func FuzzJournalDecode(f *testing.F) {
	f.Add([]byte{}, uint64(1))
	f.Add(frame([]byte(`{"seq":0,"epoch":1}`)), uint64(1))
	f.Add(append(frame([]byte(`{"seq":0,"epoch":1}`)), frame([]byte(`{"seq":1,"commit":{"post":[]}}`))...), uint64(1))
	f.Add(append(frame([]byte(`{"seq":0,"epoch":1}`)), frame([]byte(`{"seq":1,"plan":{"front":"cli","next_gen":3,"add":[{"patch":{"name":"a","delta":{"base_rules":1,"rules":[{"op":"delete","index":0}]},"gen":1,"counter_offsets":{"n":-1,"policy":{"packets":0,"bytes":0},"errors":{"packets":0,"bytes":0}}}}]}}`))...), uint64(1))
	base := `{"version":2,"next_gen":2,"epoch":1,"chains":[{"front":"cli","chain":{"Name":"a","Hook":0,"Policy":{"Kind":0},"Rules":[{"Matches":[],"Verdict":{"Kind":1}}]},"attached":false,"gen":1,"counter_offsets":{"rules":null,"policy":{"packets":0,"bytes":0},"errors":{"packets":0,"bytes":0}}}]}`
	f.Fuzz(func(t *testing.T, b []byte, epoch uint64) {
		recs, _, err := decodeJournal(b, epoch)
		if err != nil {
			return
		}
		sc, err := decodeContext([]byte(base))
		if err != nil {
			t.Fatalf("base context: %v", err)
		}
		for _, r := range recs {
			if sc.replay(r) != nil {
				return
			}
		}
	})
}

// FuzzJournalReplay: any intact (checksummed) record payload, decoded and
// replayed onto a context, applies or fails with an error; never panics.
func FuzzJournalReplay(f *testing.F) {
	f.Add([]byte(`{"seq":1,"commit":{"post":[]}}`))
	f.Add([]byte(`{"seq":1,"plan":{"front":"cli","next_gen":3,"add":[{"patch":{"name":"a","delta":{"base_rules":1,"rules":[{"op":"insert","index":1,"rules":[{"Matches":[],"Verdict":{"Kind":1}}]},{"op":"delete","index":0,"count":1}]},"gen":1,"counter_offsets":{"n":1,"rules":[[0,5,6]],"policy":{"packets":0,"bytes":0},"errors":{"packets":0,"bytes":0}}}}],"in_place":{"name":"a","slots":{"rules":"AAAAAA==","policy":1,"errors":2}}}}`))
	f.Add([]byte(`{"seq":1,"plan":{"front":"cli","next_gen":3,"add":[{"patch":{"name":"a","delta":{"base_rules":1,"set":{"name":"s","add":[{"Key":"AQIDBA==","PrefixLen":0}]}},"gen":1,"counter_offsets":{"n":-1,"policy":{"packets":0,"bytes":0},"errors":{"packets":0,"bytes":0}}}}]}}`))
	base := `{"version":2,"next_gen":2,"epoch":1,"chains":[{"front":"cli","chain":{"Name":"a","Hook":0,"Policy":{"Kind":0},"Sets":[{"Name":"s","Key":[1],"Elems":[]}],"Rules":[{"Matches":[],"Verdict":{"Kind":1}}]},"attached":false,"gen":1,"counter_offsets":{"rules":null,"policy":{"packets":0,"bytes":0},"errors":{"packets":0,"bytes":0}}}]}`
	commit := frame([]byte(`{"seq":2,"commit":{"post":[{"gen":1,"counter_offsets":{"n":-1,"policy":{"packets":0,"bytes":0},"errors":{"packets":0,"bytes":0}},"counter_slots":{"rel":true,"n":1,"diff":[[0,7]],"policy":1,"errors":2}}]}}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		j := append(frame([]byte(`{"seq":0,"epoch":1}`)), frame(payload)...)
		j = append(j, commit...)
		recs, _, err := decodeJournal(j, 1)
		if err != nil {
			return
		}
		sc, err := decodeContext([]byte(base))
		if err != nil {
			t.Fatalf("base context: %v", err)
		}
		for _, r := range recs {
			if sc.replay(r) != nil {
				return
			}
		}
		if err := checkContext(sc); err != nil && sc.Pending == nil {
			t.Fatalf("replay produced an invalid context: %v", err)
		}
	})
}

// TestJournalRecordsDeltas: a per-rule update and an update-set of a big
// chain append records of a size independent of the rule count (the
// rules are not re-encoded); a restart replays them.
func TestJournalRecordsDeltas(t *testing.T) {
	ts := newTestState(t, true)
	ts.k.inPlace = true
	var sb strings.Builder
	sb.WriteString("chain a BF_HOOK_XDP{ifindex=2} ACCEPT set s (ip4.saddr) in { 198.18.0.1 }\n")
	for i := range 3000 {
		sb.WriteString("rule udp.dport " + itoa(1000+i) + " counter DROP\n")
	}
	if err := ts.ChainSet("cli", parseChain(t, sb.String()), ts.peer, false); err != nil {
		t.Fatal(err)
	}
	jp := journalPath(ts.ctxFile)
	before := len(readFile(t, jp))
	snap := len(readFile(t, ts.ctxFile))
	if err := ts.ChainUpdateRules("cli", "a", []proto.RuleEdit{
		{Op: proto.EditReplace, Index: 1500, Text: "rule udp.dport 7 counter ACCEPT"},
		{Op: proto.EditDelete, Index: 10},
	}, -1, ts.peer, false); err != nil {
		t.Fatal(err)
	}
	mid := len(readFile(t, jp))
	if err := ts.ChainUpdateSet("cli", "a", "s", []string{"198.18.0.2"}, nil, ts.peer, false); err != nil {
		t.Fatal(err)
	}
	jb := readFile(t, jp)
	// The first in-place update records the program's counter slots
	// (unknown until then); later ones only what changed.
	if second := len(jb) - mid; second > 2048 {
		t.Fatalf("an update-set appended %d bytes", second)
	}
	grew := len(jb) - before
	t.Logf("snapshot %d bytes; two updates appended %d bytes", snap, grew)
	// The records hold the counter slots (4 bytes a rule, base64) but
	// not the rules (over 100 bytes a rule in the snapshot).
	if grew > snap/4 {
		t.Fatalf("the journal grew by %d bytes for two small updates (snapshot %d)", grew, snap)
	}
	if n := len(regexp.MustCompile(`"patch":`).FindAll(jb, -1)); n != 2 {
		t.Fatalf("%d patch records, want 2", n)
	}
	want, _ := ts.ChainGet("cli", "a", true)
	ts.k.die(ts.pinRoot)
	st := ts.reopen(t, true)
	if err := st.Restore(); err != nil {
		t.Fatal(err)
	}
	got, err := st.ChainGet("cli", "a", true)
	if err != nil {
		t.Fatal(err)
	}
	if !sameRules(got.Chain, want.Chain) || got.SetSizes["s"] != 2 {
		t.Fatalf("restored chain differs: %d rules, set size %d", len(got.Chain.Rules), got.SetSizes["s"])
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// TestRestoreVersion1Context: a context file of format version 1 (no
// journal) restores; the next save writes version 2.
func TestRestoreVersion1Context(t *testing.T) {
	ts := setupInPlace(t, true)
	if err := ts.Shutdown(false); err != nil {
		t.Fatal(err)
	}
	b := readFile(t, ts.ctxFile)
	v1 := regexp.MustCompile(`\n "epoch": [0-9]+,`).ReplaceAll(bytes.Replace(b, []byte(`"version": 2`), []byte(`"version": 1`), 1), nil)
	if bytes.Contains(v1, []byte("epoch")) || !bytes.Contains(v1, []byte(`"version": 1`)) {
		t.Fatalf("could not make a version 1 file:\n%s", v1)
	}
	if err := os.WriteFile(ts.ctxFile, v1, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(journalPath(ts.ctxFile)); err != nil {
		t.Fatal(err)
	}
	ts.k.die(ts.pinRoot)
	st := ts.reopen(t, true)
	if err := st.Restore(); err != nil {
		t.Fatal(err)
	}
	wantOld(t, ts, st)
	if !bytes.Contains(readFile(t, ts.ctxFile), []byte(`"version": 2`)) {
		t.Fatal("the restored context was not saved as version 2")
	}
	if _, err := os.Stat(journalPath(ts.ctxFile)); err != nil {
		t.Fatalf("no journal after restore: %v", err)
	}
}

// TestCrashDuringCompaction: a daemon killed between the new snapshot
// and the new journal of a compaction (at a plan or at a commit) restarts
// with the old or the new version, counters kept; an intact compaction
// leaves a journal holding only its header.
func TestCrashDuringCompaction(t *testing.T) {
	for _, at := range []string{"plan", "commit"} {
		t.Run(at, func(t *testing.T) {
			ts := setupInPlace(t, true)
			op := inPlaceOps["update-rules replace"]
			if at == "plan" {
				ts.jr.size = 1 << 40
			}
			ts.crashHook = func(p string) {
				if at == "commit" && p == "inplace-written" {
					ts.jr.size = 1 << 40
				}
				if p == "compact-snapshot" {
					panic(crashed{p})
				}
			}
			died := func() (died bool) {
				defer func() {
					if r := recover(); r != nil {
						if _, ok := r.(crashed); !ok {
							panic(r)
						}
						died = true
					}
				}()
				if err := runInPlaceOp(t, ts.State, ts, op.next, op.edits); err != nil {
					t.Fatal(err)
				}
				return false
			}()
			if !died {
				t.Fatal("no compaction happened")
			}
			st := ts.restartAfterCrash(t)
			wantNew(t, ts, st, op.next, op.counted)
			if des, _ := os.ReadDir(ts.pinRoot); len(des) != 1 {
				t.Fatalf("%d pin directories remain, want 1", len(des))
			}
		})
	}
	// Uninterrupted: the journal is restarted after the snapshot.
	ts := setupInPlace(t, true)
	ts.jr.size = 1 << 40
	op := inPlaceOps["update-rules insert"]
	if err := runInPlaceOp(t, ts.State, ts, op.next, op.edits); err != nil {
		t.Fatal(err)
	}
	recs, _, err := readJournal(journalPath(ts.ctxFile), ts.jr.epoch, nil)
	if err != nil || len(recs) != 1 || recs[0].Commit == nil {
		t.Fatalf("after a compaction at the plan, the journal holds %d records (%v), want the commit", len(recs), err)
	}
}

// TestEpochsGrow: a new snapshot's epoch is above every epoch on disk,
// even one from a clock that has since gone back, so an old journal never
// matches it.
func TestEpochsGrow(t *testing.T) {
	ts := setupInPlace(t, true)
	if err := ts.Shutdown(false); err != nil {
		t.Fatal(err)
	}
	const future = uint64(1) << 62
	j, err := createJournal(journalPath(ts.ctxFile), future, 0)
	if err != nil {
		t.Fatal(err)
	}
	j.close()
	ts.k.die(ts.pinRoot)
	st := ts.reopen(t, true)
	if err := st.Restore(); err != nil {
		t.Fatal(err)
	}
	wantOld(t, ts, st)
	sc, err := decodeContext(readFile(t, ts.ctxFile))
	if err != nil {
		t.Fatal(err)
	}
	if sc.Epoch <= future {
		t.Fatalf("new snapshot epoch %d is not above the journal's %d", sc.Epoch, future)
	}
}

// TestCorruptJournalIsRefused: an intact journal record that does not
// apply makes the restore fail naming the journal, touching nothing.
func TestCorruptJournalIsRefused(t *testing.T) {
	cases := map[string]string{
		"unknown chain":  `{"seq":%d,"plan":{"front":"cli","next_gen":9,"add":[{"patch":{"name":"nope","delta":{"base_rules":0},"gen":1,"counter_offsets":{"policy":{"packets":0,"bytes":0},"errors":{"packets":0,"bytes":0}}}}]}}`,
		"stale delta":    `{"seq":%d,"plan":{"front":"cli","next_gen":9,"add":[{"patch":{"name":"a","delta":{"base_rules":99},"gen":1,"counter_offsets":{"policy":{"packets":0,"bytes":0},"errors":{"packets":0,"bytes":0}}}}]}}`,
		"lone commit":    `{"seq":%d,"commit":{"post":[]}}`,
		"bad generation": `{"seq":%d,"plan":{"front":"cli","next_gen":1,"add":[]}}`,
		"both kinds":     `{"seq":%d,"plan":{"front":"cli","next_gen":9,"add":[]},"commit":{"post":[]}}`,
	}
	for name, rec := range cases {
		t.Run(name, func(t *testing.T) {
			ts := setupInPlace(t, true)
			jp := journalPath(ts.ctxFile)
			recs, _, err := readJournal(jp, ts.jr.epoch, nil)
			if err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(jp, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write(frame([]byte(fmt.Sprintf(rec, len(recs)+1))))
			f.Close()
			err = ts.reopen(t, true).Restore()
			if err == nil || !strings.Contains(err.Error(), JournalFileName) {
				t.Fatalf("restore: %v, want an error naming %s", err, JournalFileName)
			}
			t.Log(err)
			if ts.k.inForce("BF_HOOK_XDP{ifindex=2}") == nil {
				t.Fatal("a failed restore touched the kernel")
			}
		})
	}
}
