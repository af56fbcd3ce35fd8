package ir

import (
	"bytes"
	"testing"
)

// meta.limit is a netfilter-only field added for the iptables frontend.
func init() { iptablesFields["meta.limit"] = true }

func TestCreditsPerJiffy(t *testing.T) {
	// 0xFFFFFFFF / (HZ * 86400), rounded down to a power of two.
	for hz, want := range map[uint32]uint32{100: 256, 250: 128, 300: 128, 1000: 32} {
		if got := CreditsPerJiffy(hz); got != want {
			t.Errorf("CreditsPerJiffy(%d) = %d, want %d", hz, got, want)
		}
	}
}

func TestLimitCredits(t *testing.T) {
	// HZ 250: 32000 credits a second.
	cost, capacity := LimitCredits(Limit{Avg: LimitScale, Burst: 5}, 250)
	if cost != 32000 || capacity != 160000 {
		t.Errorf("1/sec burst 5 at HZ 250: cost %d cap %d, want 32000 160000", cost, capacity)
	}
	// 3/hour: 12,000,000 is above 0xFFFFFFFF/32000, so divide first.
	cost, _ = LimitCredits(Limit{Avg: 12_000_000, Burst: 5}, 250)
	if cost != 1200*32000 {
		t.Errorf("3/hour cost = %d, want %d", cost, 1200*32000)
	}
	if err := LimitCheck(Limit{Avg: LimitScale, Burst: 0}, 250); err == nil {
		t.Error("burst 0 accepted")
	}
	// 1/day burst 10000: Avg*Burst overflows 32 bits, as the kernel refuses.
	if err := LimitCheck(Limit{Avg: 864_000_000, Burst: 10000}, 250); err == nil {
		t.Error("overflowing limit accepted")
	}
	if err := LimitCheck(Limit{Avg: 1, Burst: 100}, 250); err != nil {
		t.Errorf("10000/sec burst 100 refused: %v", err)
	}
}

func TestLimitTakeBurstAndRefill(t *testing.T) {
	s := &LimitState{HZ: 250, Now: 1000}
	k := LimitKey{Chain: "c"}
	l := Limit{Avg: LimitScale / 10, Burst: 3} // 10/sec: 25 jiffies a token
	for i := 0; i < 3; i++ {
		if !s.Take(k, l) {
			t.Fatalf("packet %d of the burst refused", i)
		}
	}
	if s.Take(k, l) {
		t.Fatal("packet beyond the burst accepted")
	}
	s.Now += 24
	if s.Take(k, l) {
		t.Fatal("token before 25 jiffies")
	}
	s.Now++
	if !s.Take(k, l) {
		t.Fatal("no token after 25 jiffies")
	}
	// A long pause fills the bucket to its burst, not beyond.
	s.Now += 250 * 60
	n := 0
	for i := 0; i < 10; i++ {
		if s.Take(k, l) {
			n++
		}
	}
	if n != 3 {
		t.Fatalf("after a pause %d packets passed, want 3", n)
	}
	// Time going backwards adds nothing.
	s.Now -= 1000
	if s.Take(k, l) {
		t.Fatal("token from a clock going backwards")
	}
}

func TestLimitCreditWrapsLikeKernel(t *testing.T) {
	// The kernel adds (now - prev) * CPJ to a u32 credit: after long enough
	// a nearly full bucket wraps to nearly empty. 1/hour burst 1 at HZ 250:
	// cost = cap = 115,200,000.
	l := Limit{Avg: 36_000_000, Burst: 1}
	s := &LimitState{HZ: 250, Now: 0}
	k := LimitKey{}
	cost, _ := LimitCredits(l, 250)
	s.Buckets = map[LimitKey]*LimitBucket{k: {Prev: 0, Credit: cost - 1}}
	// Jiffies whose credits are 2^32 - cost + 1: the sum wraps to 0.
	s.Now = (1<<32 - uint64(cost) + 1 + 127) / 128
	if (s.Now*128)%(1<<32)+uint64(cost-1) < 1<<32 {
		t.Fatal("test arithmetic: no wrap")
	}
	if s.Take(k, l) {
		t.Fatal("wrapped credit accepted a packet")
	}
}

func limitChain(burst uint32, extra ...Match) *Chain {
	ms := append([]Match{}, extra...)
	ms = append(ms, Match{Field: MetaLimit, Op: OpEq, Value: Limit{Avg: LimitScale, Burst: burst}.Value()})
	return &Chain{Name: "in", Hook: HookNFLocalIn, Policy: Verdict{Kind: Drop}, Rules: []*Rule{
		{Matches: ms, Verdict: Verdict{Kind: Accept}},
		{Verdict: Verdict{Kind: Drop}},
	}}
}

func TestEvalLimitBurst(t *testing.T) {
	c := limitChain(4)
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	st := &LimitState{HZ: 250, Now: 5}
	p := &Packet{Data: udp4(), L3Proto: EthPIP, Limits: st}
	accepted := 0
	for i := 0; i < 10; i++ {
		res := Eval(nil, c, p)
		if res.Verdict.Kind == Accept {
			accepted++
			if res.Rule != 0 {
				t.Fatalf("accepted by rule %d", res.Rule)
			}
		} else if res.Rule != 1 {
			t.Fatalf("packet %d: dropped by rule %d, want 1", i, res.Rule)
		}
	}
	if accepted != 4 {
		t.Fatalf("%d packets accepted, want the burst of 4", accepted)
	}
	// Without state every bucket is full.
	if res := Eval(nil, c, &Packet{Data: udp4(), L3Proto: EthPIP}); res.Verdict.Kind != Accept {
		t.Fatalf("without state: %v", res.Verdict)
	}
}

func TestEvalLimitConsumesOnlyWhenReached(t *testing.T) {
	// A match before the limit that fails keeps the token.
	c := limitChain(2, Match{Field: UDPDport, Op: OpEq, Value: []byte{0, 99}})
	st := &LimitState{HZ: 250}
	for i := 0; i < 5; i++ {
		Eval(nil, c, &Packet{Data: udp4(), L3Proto: EthPIP, Limits: st}) // dport 2
	}
	if len(st.Buckets) != 0 {
		t.Fatalf("buckets used by packets that never reached the limit: %v", st.Buckets)
	}
	// A match after the limit that fails still takes the token.
	c = limitChain(2)
	c.Rules[0].Matches = append(c.Rules[0].Matches, Match{Field: UDPDport, Op: OpEq, Value: []byte{0, 99}})
	for i := 0; i < 2; i++ {
		Eval(nil, c, &Packet{Data: udp4(), L3Proto: EthPIP, Limits: st})
	}
	c.Rules[0].Matches = c.Rules[0].Matches[:1]
	if res := Eval(nil, c, &Packet{Data: udp4(), L3Proto: EthPIP, Limits: st}); res.Verdict.Kind != Drop {
		t.Fatal("the limit kept tokens taken by packets a later match refused")
	}
}

func TestEvalLimitSharedByCallSites(t *testing.T) {
	user := &Chain{Name: "u", Hook: HookNFLocalIn, User: true, Rules: []*Rule{
		{Matches: []Match{{Field: MetaLimit, Op: OpEq, Value: Limit{Avg: LimitScale, Burst: 3}.Value()}}, Verdict: Verdict{Kind: Accept}},
	}}
	base := &Chain{Name: "in", Hook: HookNFLocalIn, Policy: Verdict{Kind: Drop}, Rules: []*Rule{
		{Matches: []Match{{Field: UDPDport, Op: OpEq, Value: []byte{0, 2}}}, Verdict: Verdict{Kind: Jump, Chain: "u"}},
		{Verdict: Verdict{Kind: Jump, Chain: "u"}},
	}}
	rs := &Ruleset{Chains: []*Chain{base, user}}
	st := &LimitState{HZ: 250}
	n := 0
	for i := 0; i < 6; i++ {
		if Eval(rs, base, &Packet{Data: udp4(), L3Proto: EthPIP, Limits: st}).Verdict.Kind == Accept {
			n++
		}
	}
	if n != 3 || len(st.Buckets) != 1 {
		t.Fatalf("%d accepted with %d buckets, want 3 with one shared bucket", n, len(st.Buckets))
	}
}

func TestLimitValueText(t *testing.T) {
	for in, want := range map[string]string{
		"1/sec":             "1/sec,burst=5",
		"10/second,burst=3": "10/sec,burst=3",
		"3/h":               "3/hour,burst=5",
		"1000/day":          "1000/day,burst=5",
		"7/s":               "7/sec,burst=5",
		"period=3,burst=1":  "3333/sec,burst=1",
		"period=0,burst=1":  "period=0,burst=1",
	} {
		v, _, err := KindLimit.Parse(in, ParseEnv{})
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if got := KindLimit.Format(v, nil); got != want {
			t.Errorf("%q prints as %q, want %q", in, got, want)
		}
		back, _, err := KindLimit.Parse(want, ParseEnv{})
		if err != nil || !bytes.Equal(back, v) {
			t.Errorf("%q does not parse back: %v", want, err)
		}
	}
	for _, bad := range []string{"", "1", "0/sec", "1/fortnight", "1/sec,burst=x", "1/sec,5", "period=x"} {
		if _, _, err := KindLimit.Parse(bad, ParseEnv{}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// udp4 is a UDP packet 198.18.0.1:1 -> 198.18.0.2:2 from the network header.
func udp4() []byte {
	return pkt4([4]byte{198, 18, 0, 1}, [4]byte{198, 18, 0, 2}, ProtoUDP, udp(1, 2))[14:]
}

func TestLimitValidation(t *testing.T) {
	c := limitChain(3)
	c.Rules[0].Matches[0].Mask = make([]byte, 8)
	if err := c.Validate(); err == nil {
		t.Error("a masked limit validates")
	}
	c = limitChain(3)
	c.Hook = HookXDP
	if err := c.Validate(); err == nil {
		t.Error("meta.limit validates on XDP")
	}
}
