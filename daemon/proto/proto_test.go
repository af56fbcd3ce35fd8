package proto

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/bpfilter-go/bpfilter/frontends/cli"
	"github.com/bpfilter-go/bpfilter/ir"
)

func TestFrames(t *testing.T) {
	var b bytes.Buffer
	for _, m := range []string{"", "x", strings.Repeat("y", 70000)} {
		if err := WriteFrame(&b, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range []string{"", "x", strings.Repeat("y", 70000)} {
		got, err := ReadFrame(&b, 0)
		if err != nil || string(got) != m {
			t.Fatalf("frame: %v", err)
		}
	}
	if _, err := ReadFrame(&b, 0); err != io.EOF {
		t.Fatalf("clean end: %v", err)
	}
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], MaxFrame+1)
	if _, err := ReadFrame(bytes.NewReader(hdr[:]), 0); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("huge frame: %v", err)
	}
	binary.BigEndian.PutUint32(hdr[:], 10)
	if _, err := ReadFrame(io.MultiReader(bytes.NewReader(hdr[:]), strings.NewReader("abc")), 0); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("short body: %v", err)
	}
	if _, err := ReadFrame(bytes.NewReader(hdr[:2]), 0); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("short header: %v", err)
	}
}

// TestIRJSONRoundTrip checks that every ruleset of the upstream bfcli cases
// survives the protocol's JSON encoding unchanged.
func TestIRJSONRoundTrip(t *testing.T) {
	f, err := os.Open("../../../shared/conformance/bfcli/bfcli-cases.head-f862b2a3.jsonl")
	if err != nil {
		t.Skipf("conformance cases not available: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	n := 0
	for sc.Scan() {
		var c struct {
			Expect, Text string
		}
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatal(err)
		}
		text := strings.NewReplacer("${NS_IFINDEX}", "2", "${HOST_IFINDEX}", "1", "${HOST_IP_ADDR}", "198.18.0.1").Replace(c.Text)
		rs, err := cli.Parse("case", []byte(text), ir.ParseEnv{ResolveIface: func(string) (uint32, error) { return 3, nil }})
		if err != nil {
			continue
		}
		req := &Request{Version: Version, ID: 1, Front: FrontCLI, Cmd: CmdRulesetSet, Ruleset: rs}
		b, err := Encode(req)
		if err != nil {
			t.Fatal(err)
		}
		back, err := DecodeRequest(b)
		if err != nil {
			t.Fatalf("%q: %v", text, err)
		}
		if !reflect.DeepEqual(back.Ruleset, rs) {
			t.Fatalf("%q does not survive JSON:\n%#v\n%#v", text, rs.Chains[0], back.Ruleset.Chains[0])
		}
		if err := back.Ruleset.Validate(); err != nil {
			t.Fatalf("%q: decoded ruleset invalid: %v", text, err)
		}
		n++
	}
	if n < 100 {
		t.Fatalf("only %d rulesets checked", n)
	}
	t.Logf("%d rulesets round-trip", n)
}

func TestParseHookOption(t *testing.T) {
	resolve := func(n string) (uint32, error) {
		if n == "eth0" {
			return 7, nil
		}
		return 0, errors.New("no such interface")
	}
	cases := []struct {
		in   []string
		want ir.HookOpts
		bad  bool
	}{
		{in: []string{"ifindex=3"}, want: ir.HookOpts{Ifindex: 3}},
		{in: []string{"ifindex=eth0"}, want: ir.HookOpts{Ifindex: 7}},
		{in: []string{"iface=eth1"}, bad: true},
		{in: []string{"cgpath=/sys/fs/cgroup/a", "family=inet4"}, want: ir.HookOpts{CgroupPath: "/sys/fs/cgroup/a", Family: "inet4"}},
		{in: []string{"priorities=101-102"}, want: ir.HookOpts{Priorities: [2]int32{101, 102}}},
		{in: []string{"priorities=-2--1"}, want: ir.HookOpts{Priorities: [2]int32{-2, -1}}},
		{in: []string{"priorities=1"}, bad: true},
		{in: []string{"ifindex=1", "ifindex=2"}, bad: true},
		{in: []string{"ifindex=0"}, bad: true},
		{in: []string{"color=blue"}, bad: true},
		{in: []string{"ifindex"}, bad: true},
	}
	for _, c := range cases {
		var o ir.HookOpts
		var err error
		for _, s := range c.in {
			if err = ParseHookOption(s, &o, resolve); err != nil {
				break
			}
		}
		if c.bad != (err != nil) || (!c.bad && o != c.want) {
			t.Errorf("%v: got %+v, %v", c.in, o, err)
		}
	}
}
