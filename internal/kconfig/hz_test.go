package kconfig

import (
	"strings"
	"testing"
)

func TestConfigHZ(t *testing.T) {
	hz, err := configHZ(strings.NewReader("# comment\nCONFIG_HZ_250=y\nCONFIG_HZ=250\nCONFIG_X=1\n"))
	if err != nil || hz != 250 {
		t.Fatalf("got %d, %v; want 250", hz, err)
	}
	for _, bad := range []string{"CONFIG_HZ_1000=y\n", "CONFIG_HZ=0\n", "CONFIG_HZ=fast\n", ""} {
		if hz, err := configHZ(strings.NewReader(bad)); err == nil {
			t.Errorf("%q: got %d, want an error", bad, hz)
		}
	}
}

func TestHZOfThisKernel(t *testing.T) {
	hz, err := HZ()
	if err != nil {
		t.Skipf("no kernel configuration readable here: %v", err)
	}
	switch hz {
	case 100, 250, 300, 1000:
	default:
		t.Fatalf("CONFIG_HZ=%d is no Kconfig choice", hz)
	}
}
