package logtail

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

type got struct {
	line string
	pos  Position
}

// follow runs a follower over cfg and returns its lines as they come.
func follow(t *testing.T, cfg Config) (<-chan got, func()) {
	t.Helper()
	cfg.Poll = 5 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan got, 100)
	done := make(chan error, 1)
	f, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		done <- f.Run(ctx, func(line []byte, pos Position) { ch <- got{string(line), pos} })
	}()
	return ch, func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

func expect(t *testing.T, ch <-chan got, want ...string) []got {
	t.Helper()
	var out []got
	for _, w := range want {
		select {
		case g := <-ch:
			if g.line != w {
				t.Fatalf("line %q, want %q", g.line, w)
			}
			out = append(out, g)
		case <-time.After(3 * time.Second):
			t.Fatalf("timed out waiting for %q", w)
		}
	}
	select {
	case g := <-ch:
		t.Fatalf("unexpected extra line %q", g.line)
	case <-time.After(50 * time.Millisecond):
	}
	return out
}

func appendTo(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func TestFollowsPartialLinesAndCreation(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "maillog")
	ch, stop := follow(t, Config{Path: log})
	defer stop()
	appendTo(t, log, "one\ntw")
	expect(t, ch, "one")
	appendTo(t, log, "o\nthree\n")
	gs := expect(t, ch, "two", "three")
	if gs[1].pos.Offset != int64(len("one\ntwo\nthree\n")) {
		t.Errorf("offset %d, want %d", gs[1].pos.Offset, len("one\ntwo\nthree\n"))
	}
}

func TestRenameRotationReadsOldFileToItsEnd(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "maillog")
	appendTo(t, log, "")
	ch, stop := follow(t, Config{Path: log, FromStart: true})
	defer stop()
	appendTo(t, log, "a\n")
	expect(t, ch, "a")
	// The writer still holds the old file after the rename: its last line
	// must be read before the new file.
	w, err := os.OpenFile(log, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(log, log+".1"); err != nil {
		t.Fatal(err)
	}
	w.WriteString("b\n")
	w.Close()
	appendTo(t, log, "c\n")
	expect(t, ch, "b", "c")
}

func TestCopytruncateRestartsAtZero(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "maillog")
	appendTo(t, log, "")
	ch, stop := follow(t, Config{Path: log, FromStart: true})
	defer stop()
	appendTo(t, log, "first line\nsecond line\n")
	expect(t, ch, "first line", "second line")
	if err := os.Truncate(log, 0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(30 * time.Millisecond) // let the follower see the shrink
	appendTo(t, log, "x\n")
	expect(t, ch, "x")
}

func TestStateResumesAfterCommittedLine(t *testing.T) {
	dir := t.TempDir()
	log, state := filepath.Join(dir, "maillog"), filepath.Join(dir, "state")
	appendTo(t, log, "a\nb\nc\n")
	ch, stop := follow(t, Config{Path: log, StatePath: state, FromStart: true})
	gs := expect(t, ch, "a", "b", "c")
	stop()
	if err := SaveState(state, gs[1].pos); err != nil {
		t.Fatal(err)
	}
	ch, stop = follow(t, Config{Path: log, StatePath: state})
	defer stop()
	expect(t, ch, "c")
}

func TestStateFindsRotatedFile(t *testing.T) {
	dir := t.TempDir()
	log, state := filepath.Join(dir, "maillog"), filepath.Join(dir, "state")
	appendTo(t, log, "a\nb\n")
	ch, stop := follow(t, Config{Path: log, StatePath: state, FromStart: true})
	gs := expect(t, ch, "a", "b")
	stop()
	if err := SaveState(state, gs[0].pos); err != nil {
		t.Fatal(err)
	}
	// Rotated while the agent was down.
	if err := os.Rename(log, log+".1"); err != nil {
		t.Fatal(err)
	}
	appendTo(t, log, "c\n")
	ch, stop = follow(t, Config{Path: log, StatePath: state})
	defer stop()
	expect(t, ch, "b", "c")
}

func TestFirstStartBeginsAtEnd(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "maillog")
	appendTo(t, log, "old\n")
	ch, stop := follow(t, Config{Path: log, StatePath: filepath.Join(dir, "state")})
	defer stop()
	time.Sleep(30 * time.Millisecond)
	appendTo(t, log, "new\n")
	expect(t, ch, "new")
}

func TestLongLinesSkipped(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "maillog")
	long := make([]byte, 200<<10)
	for i := range long {
		long[i] = 'x'
	}
	appendTo(t, log, "a\n"+string(long)+"\nb\n")
	cfg := Config{Path: log, FromStart: true, MaxLine: 1000, Poll: 5 * time.Millisecond}
	f, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan got, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.Run(ctx, func(l []byte, p Position) { ch <- got{string(l), p} }); close(done) }()
	gs := expect(t, ch, "a", "b")
	cancel()
	<-done
	if f.SkippedLongLines() != 1 {
		t.Errorf("skipped %d long lines, want 1", f.SkippedLongLines())
	}
	if want := int64(2 + len(long) + 1 + 2); gs[1].pos.Offset != want {
		t.Errorf("offset %d, want %d", gs[1].pos.Offset, want)
	}
}
