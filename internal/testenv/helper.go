package testenv

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"time"
)

// helperEnv is the environment variable that turns a test binary started
// by a helper command into a traffic helper instead of a test run.
const helperEnv = "BPFILTER_TESTENV_HELPER"

// helpers are the jobs a test binary can be started for.
var helpers = map[string]func(args []string) error{
	"udp-send": udpSend,
}

// RegisterHelper adds a helper job: a test binary started with the
// environment entry HelperEnv(name) runs fn with its arguments instead of
// the tests. Call it in TestMain before RunHelpers.
func RegisterHelper(name string, fn func(args []string) error) {
	helpers[name] = fn
}

// HelperEnv returns the environment entry ("KEY=value") that makes the
// test binary run the helper job name.
func HelperEnv(name string) string { return helperEnv + "=" + name }

// RunHelpers must be the first call of TestMain in packages that use
// helper commands (UDPSendCommand, RegisterHelper): when the test binary
// was started as a helper it does the helper's job and exits; otherwise it
// returns.
func RunHelpers() {
	job := os.Getenv(helperEnv)
	if job == "" {
		return
	}
	var err error
	if fn, ok := helpers[job]; ok {
		err = fn(os.Args[1:])
	} else {
		err = fmt.Errorf("unknown helper %q", job)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// UDPSendCommand returns a command line that runs the current test binary
// as a helper sending count UDP datagrams to dst, through a connected
// socket (connect then write: cgroup connect hooks see it) or an
// unconnected one (sendto: cgroup sendmsg hooks see it). The helper exits
// non-zero when a send fails. Run it with Netns.Run or Netns.RunInCgroup;
// the calling package's TestMain must call RunHelpers.
func UDPSendCommand(dst netip.AddrPort, count int, connected bool) []string {
	mode := "sendto"
	if connected {
		mode = "connect"
	}
	return []string{"env", HelperEnv("udp-send"), os.Args[0], dst.String(), strconv.Itoa(count), mode}
}

func udpSend(args []string) error {
	if len(args) != 3 {
		return fmt.Errorf("udp-send wants dst count mode, got %q", args)
	}
	dst, err := netip.ParseAddrPort(args[0])
	if err != nil {
		return fmt.Errorf("udp-send: %w", err)
	}
	count, err := strconv.Atoi(args[1])
	if err != nil || count < 0 || count > 10000 {
		return fmt.Errorf("udp-send: bad count %q", args[1])
	}
	payload := []byte("bpfilter test datagram")
	udpDst := net.UDPAddrFromAddrPort(dst)
	switch args[2] {
	case "connect":
		c, err := net.DialUDP("udp", nil, udpDst)
		if err != nil {
			return fmt.Errorf("udp-send: connect %s: %w", dst, err)
		}
		defer c.Close()
		for i := 0; i < count; i++ {
			if _, err := c.Write(payload); err != nil {
				return fmt.Errorf("udp-send: datagram %d to %s: %w", i, dst, err)
			}
		}
	case "sendto":
		network := "udp4"
		if dst.Addr().Is6() {
			network = "udp6"
		}
		c, err := net.ListenUDP(network, nil)
		if err != nil {
			return fmt.Errorf("udp-send: socket: %w", err)
		}
		defer c.Close()
		for i := 0; i < count; i++ {
			if _, err := c.WriteToUDP(payload, udpDst); err != nil {
				return fmt.Errorf("udp-send: datagram %d to %s: %w", i, dst, err)
			}
		}
	default:
		return errors.New("udp-send: mode must be connect or sendto")
	}
	// Let the last datagrams leave before the process exits.
	time.Sleep(10 * time.Millisecond)
	return nil
}
