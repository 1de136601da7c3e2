package routing

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// tiedInput has three hosts at preference 10 and one at 5 and one at 20, so
// a shuffle that leaked across preferences would show.
func tiedInput() Input {
	return dom(mxOK(
		MX{20, "z.example.com"},
		MX{10, "a.example.com"},
		MX{10, "b.example.com"},
		MX{5, "first.example.com"},
		MX{10, "c.example.com"},
	), map[string]HostAnswers{
		"first.example.com": only4("192.0.2.5"),
		"a.example.com":     only4("192.0.2.1"),
		"b.example.com":     only4("192.0.2.2"),
		"c.example.com":     only4("192.0.2.3"),
		"z.example.com":     only4("192.0.2.20"),
	})
}

// tiedOrder checks the fixed parts of a plan for tiedInput and returns the
// order of the three tied hosts, e.g. "bca".
func tiedOrder(t *testing.T, p Plan) string {
	t.Helper()
	if len(p.Attempts) != 5 || p.Attempts[0].Host != "first.example.com" || p.Attempts[4].Host != "z.example.com" {
		t.Fatalf("attempts %v: want first.example.com, the three tied hosts, z.example.com", attemptsOf(p))
	}
	var b strings.Builder
	for _, a := range p.Attempts[1:4] {
		if a.Preference != 10 {
			t.Fatalf("attempts %v: a preference other than 10 among the tied hosts", attemptsOf(p))
		}
		b.WriteByte(a.Host[0])
	}
	return b.String()
}

var permutations = []string{"abc", "acb", "bac", "bca", "cab", "cba"}

// chiSquare of observed counts against a uniform expectation.
func chiSquare(counts map[string]int, keys []string, n int) float64 {
	exp := float64(n) / float64(len(keys))
	x := 0.0
	for _, k := range keys {
		d := float64(counts[k]) - exp
		x += d * d / exp
	}
	return x
}

// Rule 1 with a seeded source: every one of the 6 orders of the tied hosts
// is equally likely. The chi-square bound is the 0.001 critical value for 5
// degrees of freedom; with a fixed seed the test is deterministic, and a
// biased shuffle (say j = IntN(n) instead of IntN(i+1)) exceeds it by far.
func TestShuffleUniformSeeded(t *testing.T) {
	const n = 30000
	opts := seeded(42)
	counts := map[string]int{}
	first := map[byte]int{}
	in := tiedInput()
	for range n {
		o := tiedOrder(t, Build(in, nil, opts))
		counts[o]++
		first[o[0]]++
	}
	if len(counts) != 6 {
		t.Fatalf("saw %d orders, want 6: %v", len(counts), counts)
	}
	if x := chiSquare(counts, permutations, n); x > 20.52 {
		t.Errorf("chi-square over the 6 orders = %.1f > 20.52 (p < 0.001): %v", x, counts)
	}
	// Each host first in a third of plans; 4 sigma of a binomial.
	sigma := math.Sqrt(n * (1.0 / 3) * (2.0 / 3))
	for _, h := range []byte("abc") {
		if d := math.Abs(float64(first[h]) - n/3.0); d > 4*sigma {
			t.Errorf("host %c first in %d of %d plans, want %d ± %.0f", h, first[h], n, n/3, 4*sigma)
		}
	}
}

// Rule 1, "afresh on every call": the order of one plan says nothing about
// the next. Consecutive pairs of orders are uniform over all 36 pairs (chi-
// square 0.001 critical value for 35 degrees of freedom), which an
// implementation caching or rotating the order would fail.
func TestShuffleIndependentSeeded(t *testing.T) {
	const n = 30000
	opts := seeded(7)
	in := tiedInput()
	var pairs []string
	for _, a := range permutations {
		for _, b := range permutations {
			pairs = append(pairs, a+b)
		}
	}
	counts := map[string]int{}
	prev := tiedOrder(t, Build(in, nil, opts))
	for range n {
		o := tiedOrder(t, Build(in, nil, opts))
		counts[prev+o]++
		prev = o
	}
	if x := chiSquare(counts, pairs, n); x > 66.62 {
		t.Errorf("chi-square over consecutive pairs = %.1f > 66.62 (p < 0.001)", x)
	}
}

// Rule 1 with the default global source. The bound is 5 sigma per order,
// so a correct shuffle fails with probability below 1e-5 per run.
func TestShuffleUniformDefaultSource(t *testing.T) {
	const n = 30000
	opts := DefaultOptions()
	if opts.IntN != nil {
		t.Fatal("DefaultOptions sets IntN; this test means to exercise the default source")
	}
	counts := map[string]int{}
	in := tiedInput()
	for range n {
		counts[tiedOrder(t, Build(in, nil, opts))]++
	}
	p := 1.0 / 6
	sigma := math.Sqrt(n * p * (1 - p))
	for _, o := range permutations {
		if d := math.Abs(float64(counts[o]) - n*p); d > 5*sigma {
			t.Errorf("order %s in %d of %d plans, want %.0f ± %.0f", o, counts[o], n, n*p, 5*sigma)
		}
	}
}

// The seed's layout, with the default source: each of mail1 and mail2
// leads about half the plans.
func TestShuffleSeedLayoutDefaultSource(t *testing.T) {
	const n = 20000
	lead := map[string]int{}
	for range n {
		p := Build(seedInput(), nil, DefaultOptions())
		lead[p.Attempts[0].Host]++
	}
	sigma := math.Sqrt(n * 0.25)
	for _, h := range []string{"mail1.example.com", "mail2.example.com"} {
		if d := math.Abs(float64(lead[h]) - n/2.0); d > 5*sigma {
			t.Errorf("%s leads %d of %d plans, want %d ± %.0f", h, lead[h], n, n/2, 5*sigma)
		}
	}
}

// Rule 2: with OrderRandom each address of a host leads in about a fifth of
// plans (seeded, 4 sigma), the host order is untouched, and with the default
// presented order the first address always leads.
func TestAddressOrderRandom(t *testing.T) {
	const n = 10000
	in := dom(mxOK(MX{10, "a.example.com"}, MX{20, "b.example.com"}), map[string]HostAnswers{
		"a.example.com": both([]string{"192.0.2.1", "192.0.2.2", "192.0.2.3"}, []string{"2001:db8::1", "2001:db8::2"}),
		"b.example.com": only4("192.0.2.9"),
	})
	opts := seeded(9)
	opts.AddressOrder = OrderRandom
	lead := map[string]int{}
	for range n {
		p := Build(in, nil, opts)
		if len(p.Attempts) != 6 || p.Attempts[5].Address.String() != "192.0.2.9" {
			t.Fatalf("attempts %v: want a's five addresses, then b's", attemptsOf(p))
		}
		lead[p.Attempts[0].Address.String()]++
	}
	sigma := math.Sqrt(n * 0.2 * 0.8)
	for _, a := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3", "2001:db8::1", "2001:db8::2"} {
		if d := math.Abs(float64(lead[a]) - n/5.0); d > 4*sigma {
			t.Errorf("%s leads %d of %d plans, want %d ± %.0f", a, lead[a], n, n/5, 4*sigma)
		}
	}

	opts.AddressOrder = OrderPresented
	for i := range 100 {
		opts.IntN = rand.New(rand.NewPCG(uint64(i), 1)).IntN
		if got := Build(in, nil, opts).Attempts[0].Address.String(); got != "192.0.2.1" {
			t.Fatalf("presented order: %s leads, want 192.0.2.1", got)
		}
	}
}
