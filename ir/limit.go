package ir

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// The meta.limit match is a token bucket that follows the kernel's
// xt_limit (net/netfilter/xt_limit.c) at jiffy granularity. It is the only
// stateful match of the IR: each limit match of each rule owns one bucket
// (a JUMP target's buckets are shared by every call site, as a netfilter
// rule's are). Its operand is a Limit, as iptables stores it in struct
// xt_rateinfo: Avg is the period between packets in 1/LimitScale seconds,
// Burst the bucket depth in packets.
//
// With HZ the kernel's tick rate and CPJ = CreditsPerJiffy(HZ), a bucket
// holds credits: cost = user2credits(Avg), capacity = user2credits(Avg *
// Burst) (32-bit arithmetic, as the kernel's). A bucket starts full. When a
// packet reaches the match at time now (jiffies), the credits earned since
// the bucket's previous update, uint32((now - prev) * CPJ), are added (in
// 32 bits, wrapping as the kernel's u32 does) and capped at the capacity;
// the match holds when the credits are at least cost, and then cost is
// taken. A packet consumes a token only when it reaches the match: the
// matches before it in the rule hold. Negation inverts the result and
// consumes the same way (nftables' "limit rate over"; iptables refuses !).

// LimitScale is XT_LIMIT_SCALE: Limit.Avg counts 1/LimitScale seconds.
const LimitScale = 10000

// LimitDefaultBurst is the burst iptables uses when none is given.
const LimitDefaultBurst = 5

// Limit is the operand of a meta.limit match (struct xt_rateinfo's user
// part).
type Limit struct {
	// Avg is the period between two packets in 1/LimitScale seconds.
	Avg uint32
	// Burst is the bucket depth in packets.
	Burst uint32
}

// Value encodes the limit as a meta.limit match value: Avg then Burst,
// big-endian.
func (l Limit) Value() []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint32(b, l.Avg)
	binary.BigEndian.PutUint32(b[4:], l.Burst)
	return b
}

// LimitOf decodes the operand of a meta.limit match.
func LimitOf(m *Match) (Limit, error) {
	if m.Field != MetaLimit {
		return Limit{}, fmt.Errorf("%s is not a limit match", m.Field)
	}
	if len(m.Value) != 8 {
		return Limit{}, fmt.Errorf("matcher %s: value has %d bytes, want 8", m.Field, len(m.Value))
	}
	return Limit{Avg: binary.BigEndian.Uint32(m.Value), Burst: binary.BigEndian.Uint32(m.Value[4:])}, nil
}

// CreditsPerJiffy is the kernel's CREDITS_PER_JIFFY for tick rate hz: the
// largest power of two not above 0xFFFFFFFF / (hz * 86400), so that a day
// of credits fits in 32 bits.
func CreditsPerJiffy(hz uint32) uint32 {
	if hz == 0 {
		return 0
	}
	maxCPJ := uint32(math.MaxUint32 / (uint64(hz) * 86400))
	if maxCPJ == 0 {
		return 1 // the kernel's macro gives 1 for 0 as well
	}
	p := uint32(1)
	for p*2 <= maxCPJ && p < 1<<31 {
		p *= 2
	}
	return p
}

// user2credits is xt_limit's conversion of a period in 1/LimitScale
// seconds into credits, in the kernel's 32-bit arithmetic.
func user2credits(user, hz uint32) uint32 {
	hc := hz * CreditsPerJiffy(hz)
	if hc != 0 && user > math.MaxUint32/hc {
		return (user / LimitScale) * hc
	}
	return (user * hc) / LimitScale
}

// LimitCredits returns the cost of one packet and the capacity of the
// bucket of l at tick rate hz, as xt_limit's checkentry computes them.
func LimitCredits(l Limit, hz uint32) (cost, capacity uint32) {
	return user2credits(l.Avg, hz), user2credits(l.Avg*l.Burst, hz)
}

// LimitCheck refuses what xt_limit's checkentry refuses (ERANGE): a zero
// burst, or a capacity that overflows below the cost. Avg 0 (every packet
// passes) is refused too: iptables cannot express it.
func LimitCheck(l Limit, hz uint32) error {
	cost, capacity := LimitCredits(l, hz)
	switch {
	case l.Burst == 0:
		return fmt.Errorf("limit burst 0: the bucket would hold no packet")
	case l.Avg == 0:
		return fmt.Errorf("limit with period 0: the rate is infinite")
	case capacity < cost:
		return fmt.Errorf("limit %s burst %d overflows the kernel's credits at HZ %d; try a lower rate or burst", FormatLimitRate(l.Avg), l.Burst, hz)
	}
	return nil
}

// LimitKey names a bucket: the limit match Match of rule Rule of chain
// Chain.
type LimitKey struct {
	Chain       string
	Rule, Match int
}

// LimitBucket is the state of one bucket.
type LimitBucket struct {
	// Prev is the time of the last update, in jiffies.
	Prev uint64
	// Credit is the number of credits left.
	Credit uint32
}

// LimitState is the explicit state the evaluator reads and updates for
// limit matches: the kernel's tick rate, the current time and the buckets.
// Buckets missing from the map are full (a freshly loaded chain).
type LimitState struct {
	// HZ is the kernel's tick rate (CONFIG_HZ).
	HZ uint32
	// Now is the current time in jiffies.
	Now uint64
	// Buckets are the buckets used so far.
	Buckets map[LimitKey]*LimitBucket
}

// Take runs one packet through the bucket of key with limit l: it refills
// the bucket for the time elapsed since its last update, and takes one
// packet's cost when there is enough. It reports whether the packet is
// within the limit. A time earlier than the bucket's adds nothing.
func (s *LimitState) Take(key LimitKey, l Limit) bool {
	cost, capacity := LimitCredits(l, s.HZ)
	if s.Buckets == nil {
		s.Buckets = map[LimitKey]*LimitBucket{}
	}
	b := s.Buckets[key]
	if b == nil {
		b = &LimitBucket{Prev: s.Now, Credit: capacity}
		s.Buckets[key] = b
	}
	var inc uint32
	if s.Now > b.Prev {
		inc = uint32((s.Now - b.Prev) * uint64(CreditsPerJiffy(s.HZ)))
		b.Prev = s.Now
	}
	credit := b.Credit + inc
	if credit > capacity {
		credit = capacity
	}
	ok := credit >= cost
	if ok {
		credit -= cost
	}
	b.Credit = credit
	return ok
}

// limitHolds evaluates limit match m of chain c (before negation). Without
// a LimitState every bucket is full: the match holds.
func limitHolds(c *Chain, m *Match, p *Packet) bool {
	l, err := LimitOf(m)
	if err != nil {
		return false
	}
	if p.Limits == nil {
		return true
	}
	return p.Limits.Take(limitKeyOf(c, m), l)
}

// limitKeyOf finds the rule and match index of m in c (m points into one
// of c's rules, as RuleMatches passes it).
func limitKeyOf(c *Chain, m *Match) LimitKey {
	for i, r := range c.Rules {
		for j := range r.Matches {
			if &r.Matches[j] == m {
				return LimitKey{Chain: c.Name, Rule: i, Match: j}
			}
		}
	}
	return LimitKey{Chain: c.Name, Rule: -1, Match: -1}
}

// limitUnits are iptables' rate units: the printed name, the seconds, and
// the words accepted (any prefix of the long name).
var limitUnits = []struct {
	name, long string
	secs       uint64
}{{"day", "day", 86400}, {"hour", "hour", 3600}, {"min", "minute", 60}, {"sec", "second", 1}}

// FormatLimitRate prints a period as iptables does ("3/hour", "10/sec").
func FormatLimitRate(avg uint32) string {
	if avg == 0 {
		return "inf"
	}
	i := 1
	for ; i < len(limitUnits); i++ {
		m := uint32(limitUnits[i].secs * LimitScale)
		if avg > m || m/avg < m%avg {
			break
		}
	}
	u := limitUnits[i-1]
	return fmt.Sprintf("%d/%s", uint32(u.secs*LimitScale)/avg, u.name)
}

// parseLimitRate parses "N/UNIT" (UNIT a prefix of second, minute, hour or
// day) into a period, as iptables' parse_rate.
func parseLimitRate(s string) (uint32, error) {
	num, unit, ok := strings.Cut(s, "/")
	if !ok || unit == "" {
		return 0, fmt.Errorf("invalid rate %q (expected N/second, N/minute, N/hour or N/day)", s)
	}
	var secs uint64
	for _, u := range limitUnits {
		if strings.HasPrefix(u.long, strings.ToLower(unit)) {
			secs = u.secs
			break
		}
	}
	if secs == 0 {
		return 0, fmt.Errorf("invalid rate unit %q in %q", unit, s)
	}
	n, err := strconv.ParseUint(num, 10, 32)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("invalid rate %q (expected a positive number of packets)", s)
	}
	avg := secs * LimitScale / n
	if avg == 0 {
		return 0, fmt.Errorf("rate too fast %q", s)
	}
	return uint32(avg), nil
}

// formatLimit prints a meta.limit operand: "RATE,burst=N"; a period no
// rate spells exactly prints as "period=AVG,burst=N" (AVG in 1/10000 s).
func formatLimit(v []byte) string {
	if len(v) != 8 {
		return fmt.Sprintf("% x", v)
	}
	l := Limit{Avg: binary.BigEndian.Uint32(v), Burst: binary.BigEndian.Uint32(v[4:])}
	rate := FormatLimitRate(l.Avg)
	if back, err := parseLimitRate(rate); err != nil || back != l.Avg {
		rate = "period=" + strconv.FormatUint(uint64(l.Avg), 10)
	}
	return rate + ",burst=" + strconv.FormatUint(uint64(l.Burst), 10)
}

// parseLimit parses a meta.limit operand: "RATE[,burst=N]" or
// "period=AVG[,burst=N]" (burst defaults to LimitDefaultBurst).
func parseLimit(s string) ([]byte, error) {
	rate, rest, hasBurst := strings.Cut(s, ",")
	l := Limit{Burst: LimitDefaultBurst}
	if p, ok := strings.CutPrefix(rate, "period="); ok {
		v, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("invalid limit period %q", p)
		}
		l.Avg = uint32(v)
	} else {
		avg, err := parseLimitRate(rate)
		if err != nil {
			return nil, err
		}
		l.Avg = avg
	}
	if hasBurst {
		b, ok := strings.CutPrefix(rest, "burst=")
		v, err := strconv.ParseUint(b, 10, 32)
		if !ok || err != nil {
			return nil, fmt.Errorf("invalid limit burst %q (expected burst=N)", rest)
		}
		l.Burst = uint32(v)
	}
	return l.Value(), nil
}
