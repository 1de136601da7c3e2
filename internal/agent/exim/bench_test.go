package exim

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mxroute/mxroute/internal/apigen"
)

// fixedRouter answers every domain with one plan, so the benchmark
// measures the agent, not mxroute.
type fixedRouter struct{ plan apigen.Plan }

func (r fixedRouter) Route(context.Context, string) (apigen.Plan, error) { return r.plan, nil }

// askOnce is what Exim's readsocket does per routing request.
func askOnce(b *testing.B, path string, req []byte, buf []byte) {
	c, err := net.Dial("unix", path)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := c.Write(req); err != nil {
		b.Fatal(err)
	}
	_ = c.(*net.UnixConn).CloseWrite()
	for {
		if _, err := c.Read(buf); err != nil {
			break
		}
	}
	c.Close()
}

// BenchmarkReadsocketAgent is one routing request answered by Server with a
// two-address plan.
func BenchmarkReadsocketAgent(b *testing.B) {
	path := filepath.Join(b.TempDir(), "s")
	ln, err := net.Listen("unix", path)
	if err != nil {
		b.Fatal(err)
	}
	plan := apigen.Plan{Domain: "example.com", Disposition: apigen.Deliver, RouteId: "r", Attempts: []apigen.Attempt{
		{Host: "mx1.example.com", Address: "192.0.2.1"}, {Host: "mx2.example.com", Address: "2001:db8::2"}}}
	s := NewServer(ServerConfig{}, fixedRouter{plan}, NewPlans(0, 0, nil), slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _ = s.Serve(ctx, ln) }()
	defer cancel()
	req, buf := []byte("example.com\n"), make([]byte, 512)
	b.ResetTimer()
	for range b.N {
		askOnce(b, path, req, buf)
	}
}

// BenchmarkReadsocketBare is the baseline: a unix socket server that reads
// the request to EOF and writes a fixed answer of the same length.
func BenchmarkReadsocketBare(b *testing.B) {
	path := filepath.Join(b.TempDir(), "s")
	ln, err := net.Listen("unix", path)
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	answer := []byte("<;[192.0.2.1]:25;[2001:db8::2]:25\n")
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(time.Second))
				r := bufio.NewReader(c)
				_, _ = r.ReadString('\n')
				_, _ = c.Write(answer)
				_, _ = io.Copy(io.Discard, r)
			}()
		}
	}()
	req, buf := []byte("example.com\n"), make([]byte, 512)
	b.ResetTimer()
	for range b.N {
		askOnce(b, path, req, buf)
	}
}

func corpusLines(b *testing.B) [][]byte {
	var lines [][]byte
	for _, n := range []string{"exim-4.96-e2e-a-mainlog.txt", "exim-4.96-e2e-b-mainlog.txt", "exim-4.96-mainlog.txt"} {
		data, err := os.ReadFile("testdata/" + n)
		if err != nil {
			b.Fatal(err)
		}
		lines = append(lines, bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))...)
	}
	return lines
}

// BenchmarkParseCorpus turns every line of the real main logs into reports
// (or not): the agent's per-line cost. It reports lines per second.
func BenchmarkParseCorpus(b *testing.B) {
	lines := corpusLines(b)
	f := NewFeed(NewPlans(0, 0, nil), time.UTC)
	b.ResetTimer()
	for range b.N {
		for _, l := range lines {
			f.Line(l)
		}
	}
	b.ReportMetric(float64(b.N*len(lines))/b.Elapsed().Seconds(), "lines/s")
}

// BenchmarkScanCorpus is the baseline: the same lines only searched for the
// event tag, the least any log reader does.
func BenchmarkScanCorpus(b *testing.B) {
	lines := corpusLines(b)
	tag := []byte(EventTag)
	n := 0
	b.ResetTimer()
	for range b.N {
		for _, l := range lines {
			if bytes.Contains(l, tag) {
				n++
			}
		}
	}
	b.ReportMetric(float64(b.N*len(lines))/b.Elapsed().Seconds(), "lines/s")
	_ = n
}
