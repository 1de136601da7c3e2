package check

import (
	"context"
	"testing"
)

func BenchmarkGrade(b *testing.B) {
	d := seedLayouts()["seed4 10/10/20/30"]
	for b.Loop() {
		Grade(d)
	}
}

// BenchmarkRun is a whole check of the seed's fourth layout against a
// loopback dnstest server: 1 MX, 8 A/AAAA, 2 PTR, 1 NS, 2 NS-address and
// 1 direct MX queries.
func BenchmarkRun(b *testing.B) {
	e := newEnvTB(b, seedZone("seed4"))
	ctx := context.Background()
	for b.Loop() {
		if _, err := Run(ctx, e.res, "example.com", e.opts); err != nil {
			b.Fatal(err)
		}
	}
}
