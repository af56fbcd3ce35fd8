package nfsemantics

import (
	"os"
	"strings"
	"testing"

	"github.com/bpfilter-go/bpfilter/internal/testenv"
)

// TestConntrackKeeperNetlink installs, re-installs and removes the keeper
// table in a test namespace, and checks with nft that it holds exactly
// the `ct state new` rule.
func TestConntrackKeeperNetlink(t *testing.T) {
	testenv.RequireCommand(t, "nft")
	ns := testenv.NewNetns(t)
	f, err := os.Open(ns.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fd := int(f.Fd())
	if ok, err := HasConntrackKeeper(fd); err != nil || ok {
		t.Fatalf("before install: has=%v err=%v", ok, err)
	}
	if err := RemoveConntrackKeeper(fd); err != nil {
		t.Fatalf("removing an absent keeper: %v", err)
	}
	for i := 0; i < 2; i++ {
		if err := InstallConntrackKeeper(fd); err != nil {
			t.Fatalf("install %d: %v", i, err)
		}
	}
	if ok, err := HasConntrackKeeper(fd); err != nil || !ok {
		t.Fatalf("after install: has=%v err=%v", ok, err)
	}
	out := ns.Exec(t, "nft", "list", "table", "inet", ConntrackKeeperTable)
	if strings.Count(out, "ct state new") != 1 || !strings.Contains(out, "chain keep") {
		t.Errorf("keeper table after two installs:\n%s", out)
	}
	if err := RemoveConntrackKeeper(fd); err != nil {
		t.Fatal(err)
	}
	if ok, err := HasConntrackKeeper(fd); err != nil || ok {
		t.Fatalf("after remove: has=%v err=%v", ok, err)
	}
}
