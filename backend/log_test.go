package backend

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bpfilter-go/bpfilter/internal/testpkt"
	"github.com/bpfilter-go/bpfilter/ir"
	"github.com/cilium/ebpf/ringbuf"
)

// readLogs drains the chain's log ring buffer.
func (l *loaded) readLogs(tb testing.TB) []LogEntry {
	tb.Helper()
	rd, err := ringbuf.NewReader(l.coll.Maps[LogMap])
	if err != nil {
		tb.Fatalf("open ring buffer: %v", err)
	}
	defer rd.Close()
	var out []LogEntry
	for i := 0; i < 1000; i++ {
		rd.SetDeadline(time.Now().Add(50 * time.Millisecond))
		rec, err := rd.Read()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		if err != nil {
			tb.Fatalf("read ring buffer: %v", err)
		}
		e, err := DecodeLogRecord(rec.RawSample)
		if err != nil {
			tb.Fatalf("decode log record: %v", err)
		}
		out = append(out, e)
	}
	return out
}

// TestLogRecords logs packets on every packet hook and checks the decoded
// records: rule, verdict, hook, length, protocols and the raw headers
// requested.
func TestLogRecords(t *testing.T) {
	frame := tcp4("198.18.0.1", "198.18.0.2", 1234, 22, testpkt.SYN|testpkt.ACK)
	for _, h := range ir.Hooks() {
		if h.IsSockAddr() {
			continue
		}
		t.Run(h.String(), func(t *testing.T) {
			c := &ir.Chain{Name: "log", Hook: h, Policy: ir.Verdict{Kind: ir.Accept}, Rules: []*ir.Rule{
				{Matches: []ir.Match{eqMatch(t, ir.TCPDport, "22", false)}, Log: &ir.Log{Headers: ir.LogTransport}, Verdict: ir.Verdict{Kind: ir.Continue}},
				{Matches: []ir.Match{eqMatch(t, ir.IP4Saddr, "198.18.0.1", false)}, Log: &ir.Log{Headers: ir.LogAll}, Verdict: ir.Verdict{Kind: ir.Drop}},
			}}
			l := compileAndLoad(t, c)
			l.check(t, testPacket{frame: frame})
			l.check(t, testPacket{frame: tcp4("198.18.0.9", "198.18.0.2", 1, 2, 0)}) // no log
			logs := l.readLogs(t)
			if len(logs) != 2 {
				t.Fatalf("got %d log records, want 2: %+v", len(logs), logs)
			}
			l3 := frame[14:34]
			l4 := frame[34:54]
			for i, e := range logs {
				if e.Rule != i || e.Hook != h || e.L3Proto != ir.EthPIP || e.L4Proto != ir.ProtoTCP || !e.HasL4Proto {
					t.Errorf("record %d: %+v", i, e)
				}
				if e.PacketLen != uint32(packetLen(h, testPacket{frame: frame})) || e.Time == 0 {
					t.Errorf("record %d: length %d time %v", i, e.PacketLen, e.Time)
				}
				if !bytes.Equal(e.Transport, l4) {
					t.Errorf("record %d: transport % x, want % x", i, e.Transport, l4)
				}
			}
			if logs[0].Verdict != ir.Continue || logs[0].Network != nil || logs[0].Link != nil {
				t.Errorf("record 0 (log transport, CONTINUE): %+v", logs[0])
			}
			if logs[1].Verdict != ir.Drop || !bytes.Equal(logs[1].Network, l3) {
				t.Errorf("record 1 (log, DROP): verdict %s network % x", logs[1].Verdict, logs[1].Network)
			}
			wantLink := h.Flavour() == ir.FlavourXDP || h.Flavour() == ir.FlavourTC
			if got := bytes.Equal(logs[1].Link, frame[:14]); got != wantLink {
				t.Errorf("record 1: link % x, want it logged=%v", logs[1].Link, wantLink)
			}
			text := logs[1].String()
			for _, want := range []string{"Rule 1, DROP", "198.18.0.1 → 198.18.0.2", "1234  → 22", "syn,ack"} {
				if !strings.Contains(text, want) {
					t.Errorf("formatted entry lacks %q:\n%s", want, text)
				}
			}
		})
	}
}

// TestLogEvery checks the per-rule rate limit: of many packets in a burst,
// only the first is logged with "every 1h"; a rule without it logs all.
func TestLogEvery(t *testing.T) {
	c := &ir.Chain{Name: "every", Hook: ir.HookTCIngress, Policy: ir.Verdict{Kind: ir.Accept}, Rules: []*ir.Rule{
		{Matches: []ir.Match{eqMatch(t, ir.TCPDport, "22", false)}, Log: &ir.Log{Headers: ir.LogInternet, Every: time.Hour}, Verdict: ir.Verdict{Kind: ir.Continue}},
		{Matches: []ir.Match{eqMatch(t, ir.TCPDport, "22", false)}, Log: &ir.Log{Headers: ir.LogInternet}, Verdict: ir.Verdict{Kind: ir.Continue}},
	}}
	l := compileAndLoad(t, c)
	for i := 0; i < 5; i++ {
		l.check(t, testPacket{frame: tcp4("198.18.0.1", "198.18.0.2", 1234, 22, 0)})
	}
	per := map[int]int{}
	for _, e := range l.readLogs(t) {
		per[e.Rule]++
	}
	if per[0] != 1 || per[1] != 5 {
		t.Errorf("log records per rule = %v, want rule 0: 1 (every 1h), rule 1: 5", per)
	}
}

func TestDecodeLogRecordRefusesShortAndBadHook(t *testing.T) {
	if _, err := DecodeLogRecord(make([]byte, LogRecordSize-1)); err == nil {
		t.Error("short record decoded")
	}
	rec := make([]byte, LogRecordSize)
	rec[logOffHook] = 200
	if _, err := DecodeLogRecord(rec); err == nil {
		t.Error("record with hook 200 decoded")
	}
}
