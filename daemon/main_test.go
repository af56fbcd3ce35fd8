package daemon

import (
	"os"
	"testing"

	"github.com/bpfilter-go/bpfilter/daemon/bfcli"
	"github.com/bpfilter-go/bpfilter/internal/testenv"
)

// mainEnv makes the test binary act as the daemon or as bfcli, so
// end-to-end tests can run both as separate processes inside test
// namespaces.
const mainEnv = "BPFILTER_TEST_MAIN"

func TestMain(m *testing.M) {
	testenv.RunHelpers()
	switch os.Getenv(mainEnv) {
	case "daemon":
		os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr))
	case "bfcli":
		os.Exit(bfcli.Main(os.Args[1:], os.Stdout, os.Stderr))
	case "tokend":
		os.Exit(tokenChild(os.Args[1:]))
	}
	os.Exit(m.Run())
}
