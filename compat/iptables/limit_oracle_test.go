package iptables

import "testing"

// limitSequence: -m limit lines the kernel refuses by its overflow test
// (at HZ 250, 1/min is refused from burst 2237), by a zero burst, and
// lines iptables refuses (!, burst above 10000), with listings.
var limitSequence = []string{
	"-A INPUT -m limit --limit 1/min --limit-burst 2237 -j ACCEPT",
	"-A INPUT -m limit --limit 1/min --limit-burst 2236 -j ACCEPT",
	"-A INPUT -m limit --limit 1/sec --limit-burst 0",
	"-A INPUT -m limit ! --limit 1/sec",
	"-A INPUT -m limit --limit 1/day --limit-burst 10000",
	"-A INPUT -m limit --limit 3/s --limit-burst 10001",
	"-A INPUT -p tcp -m limit --limit 10000/sec --limit-burst 100 -j RETURN",
	"-A INPUT -m limit --limit 7/minute --limit-burst 3",
	"-A INPUT -m limit",
	"-A INPUT -m limit --limit 1/s --limit-burst 5 -j ACCEPT",
	"-S",
	"-L -n -v",
}

func TestOracleLimit(t *testing.T) { runOracleSequence(t, limitSequence) }
