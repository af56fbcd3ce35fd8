package nfsemantics

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/bpfilter-go/bpfilter/internal/testenv"
)

func TestOwnsRule(t *testing.T) {
	if !ownsRule(keeperUserData()) {
		t.Error("the keeper's own user data is not recognised")
	}
	other := append([]byte{1, 2, 0xaa, 0xbb}, keeperUserData()...)
	for _, x := range []struct {
		ud   []byte
		want bool
	}{
		{nil, false}, {[]byte{0}, false}, {[]byte{0, 40, 'b'}, false},
		{append([]byte{0, 5}, "other"...), false}, {other, true},
		{keeperUserData()[:len(keeperUserData())-1], false},
	} {
		if got := ownsRule(x.ud); got != x.want {
			t.Errorf("ownsRule(% x) = %v, want %v", x.ud, got, x.want)
		}
	}
}

// TestConntrackKeeperForeign: a table of the keeper's name that bpfilter
// did not create is neither adopted nor deleted, whatever it holds; the
// keeper bpfilter creates carries its comment, and so does the nft script.
func TestConntrackKeeperForeign(t *testing.T) {
	testenv.RequireCommand(t, "nft")
	for _, foreign := range []string{
		"table inet bpfilter_conntrack {\nchain keep {\nct state new\n}\n}\n",
		"table inet bpfilter_conntrack {\nchain keep {\nct state new comment \"mine\"\n}\n}\n",
		"table inet bpfilter_conntrack {\nchain other {\nct state new comment \"" + KeeperComment + "\"\n}\n}\n",
		"table inet bpfilter_conntrack {\n}\n",
	} {
		t.Run(foreign, func(t *testing.T) {
			ns := testenv.NewNetns(t)
			f, err := os.Open(ns.Path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			fd := int(f.Fd())
			nftIn(t, ns, foreign)
			before := ns.Exec(t, "nft", "list", "table", "inet", ConntrackKeeperTable)
			if exists, owned, err := ConntrackKeeperOwned(fd); err != nil || !exists || owned {
				t.Fatalf("foreign table: exists=%v owned=%v err=%v", exists, owned, err)
			}
			if err := InstallConntrackKeeper(fd); !errors.Is(err, ErrForeignKeeper) || !strings.Contains(err.Error(), "not created by bpfilter") {
				t.Errorf("install over a foreign table: %v", err)
			}
			if err := RemoveConntrackKeeper(fd); !errors.Is(err, ErrForeignKeeper) {
				t.Errorf("remove of a foreign table: %v", err)
			}
			if after := ns.Exec(t, "nft", "list", "table", "inet", ConntrackKeeperTable); after != before {
				t.Errorf("the foreign table changed:\n%s\nwas:\n%s", after, before)
			}
		})
	}
	ns := testenv.NewNetns(t)
	f, err := os.Open(ns.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fd := int(f.Fd())
	if err := InstallConntrackKeeper(fd); err != nil {
		t.Fatal(err)
	}
	if out := ns.Exec(t, "nft", "list", "table", "inet", ConntrackKeeperTable); !strings.Contains(out, `ct state new comment "`+KeeperComment+`"`) {
		t.Errorf("bpfilter's keeper lacks its comment:\n%s", out)
	}
	if err := RemoveConntrackKeeper(fd); err != nil {
		t.Fatal(err)
	}
	nftIn(t, ns, ConntrackKeeper)
	if exists, owned, err := ConntrackKeeperOwned(fd); err != nil || !exists || !owned {
		t.Errorf("the ConntrackKeeper script: exists=%v owned=%v err=%v", exists, owned, err)
	}
}

// nftIn loads an nft script in ns.
func nftIn(t *testing.T, ns *testenv.Netns, script string) {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns.Name, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft -f: %v: %s", err, out)
	}
}
