package ratelog

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestOncePerIntervalWithSuppressedCount(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(0, 0)
	l := New(slog.New(slog.NewTextHandler(&buf, nil)), time.Minute, func() time.Time { return now })
	ctx := context.Background()
	if !l.Warn(ctx, "k", "down") {
		t.Fatal("first call not logged")
	}
	for range 5 {
		now = now.Add(10 * time.Second)
		if l.Warn(ctx, "k", "down") {
			t.Fatal("logged within the interval")
		}
	}
	if !l.Warn(ctx, "other", "other key") {
		t.Error("keys share an interval")
	}
	now = now.Add(11 * time.Second)
	if !l.Warn(ctx, "k", "down") {
		t.Fatal("not logged after the interval")
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[2], "suppressed=5") {
		t.Errorf("log:\n%s", buf.String())
	}
}
