package daemon

import (
	"fmt"
	"testing"
)

// BenchmarkJournalAppend: one framed, fdatasync'd journal record of the
// given size in a temporary directory (the cost each plan and commit
// record adds to an update in standard mode).
func BenchmarkJournalAppend(b *testing.B) {
	for _, size := range []int{256, 64 << 10} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			j, err := createJournal(journalPath(b.TempDir()+"/context.json"), 1, 0)
			if err != nil {
				b.Fatal(err)
			}
			defer j.close()
			payload := make([]byte, size)
			b.SetBytes(int64(size))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := j.append(payload, "bench", true, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
