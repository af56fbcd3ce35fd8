package backend

import (
	"os"
	"testing"

	"github.com/bpfilter-go/bpfilter/internal/testenv"
)

func TestMain(m *testing.M) {
	testenv.RunHelpers()
	os.Exit(m.Run())
}
