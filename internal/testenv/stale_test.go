package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestSweepRemovesStaleNetns records a namespace as owned by a process
// that is gone (this PID with another start time) and one owned by this
// process; the sweep deletes the first and keeps the second.
func TestSweepRemovesStaleNetns(t *testing.T) {
	RequireRoot(t)
	RequireCommand(t, "ip")
	old := markerDir
	markerDir = t.TempDir()
	t.Cleanup(func() { markerDir = old })

	add := func() string {
		name, err := uniqueName("bft-")
		if err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
			t.Fatalf("ip netns add: %v: %s", err, out)
		}
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
		return name
	}
	stale, live := add(), add()
	body := fmt.Sprintf("%s\n%s\n%d\n%s\n", kindNetns, stale, os.Getpid(), "not-a-start-time")
	if err := os.WriteFile(filepath.Join(markerDir, markerName(kindNetns, stale)), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := recordResource(kindNetns, live); err != nil {
		t.Fatal(err)
	}
	if errs := sweep(); len(errs) != 0 {
		t.Fatalf("sweep: %v", errs)
	}
	if _, err := os.Stat(filepath.Join("/run/netns", stale)); !os.IsNotExist(err) {
		t.Errorf("stale namespace %s still exists (stat: %v)", stale, err)
	}
	if _, err := os.Stat(filepath.Join("/run/netns", live)); err != nil {
		t.Errorf("live namespace %s was removed: %v", live, err)
	}
	ents, err := os.ReadDir(markerDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Name() != markerName(kindNetns, live) {
		t.Errorf("markers left: %v, want only the live one", ents)
	}
}

// TestParseMarkerRejectsGarbage checks that a damaged marker is an error,
// not a panic or a resource to remove.
func TestParseMarkerRejectsGarbage(t *testing.T) {
	for _, s := range []string{"", "netns\nx\n", "netns\nx\nabc\n1\n", "netns\nx\n-4\n1\n"} {
		if _, err := parseMarker([]byte(s)); err == nil {
			t.Errorf("parseMarker(%q) accepted", s)
		}
	}
}
