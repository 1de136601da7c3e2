package telemetry

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace"
)

// logLines decodes the JSON log records in out, skipping the console
// exporters' output, which shares the writer but has no "msg".
func logLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		if _, ok := m["msg"]; ok {
			lines = append(lines, m)
		}
	}
	return lines
}

func TestLoggerAddsSpanIDsInsideSpanOnly(t *testing.T) {
	out := &syncBuffer{}
	tel := setup(t, map[string]string{"OTEL_TRACES_EXPORTER": "console"}, Options{LogWriter: out})
	logger := tel.Logger()

	logger.InfoContext(t.Context(), "outside")
	ctx, span := tel.TracerProvider().Tracer("test").Start(t.Context(), "op")
	logger.InfoContext(ctx, "inside", "k", "v")
	logger.With("component", "test").InfoContext(ctx, "inside with attrs")
	span.End()
	logger.DebugContext(ctx, "debug is below the default level")

	lines := logLines(t, out.String())
	if len(lines) != 3 {
		t.Fatalf("got %d log lines, want 3: %v", len(lines), lines)
	}
	if _, ok := lines[0]["trace_id"]; ok {
		t.Errorf("log outside a span has trace_id: %v", lines[0])
	}
	wantTrace, wantSpan := span.SpanContext().TraceID().String(), span.SpanContext().SpanID().String()
	for _, l := range lines[1:] {
		if l["trace_id"] != wantTrace || l["span_id"] != wantSpan {
			t.Errorf("log inside the span = %v, want trace_id %s span_id %s", l, wantTrace, wantSpan)
		}
	}
	if lines[1]["k"] != "v" || lines[2]["component"] != "test" || lines[1]["level"] != "INFO" {
		t.Errorf("log attributes lost: %v", lines[1:])
	}
}

func TestLoggerLevelAndRemoteParentUnderNoopTracing(t *testing.T) {
	out := &syncBuffer{}
	level := &slog.LevelVar{}
	level.Set(slog.LevelDebug)
	tel := setup(t, nil, Options{LogWriter: out, LogLevel: level})

	// A traceparent from the caller reaches the logs even though this
	// server exports no spans.
	parent := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		SpanID:     trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8},
		TraceFlags: trace.FlagsSampled,
		Remote:     true,
	})
	ctx, span := tel.TracerProvider().Tracer("test").Start(trace.ContextWithRemoteSpanContext(t.Context(), parent), "op")
	tel.Logger().DebugContext(ctx, "debug")
	span.End()

	lines := logLines(t, out.String())
	if len(lines) != 1 {
		t.Fatalf("got %d log lines, want 1 at debug level: %v", len(lines), lines)
	}
	if lines[0]["trace_id"] != parent.TraceID().String() || lines[0]["span_id"] != parent.SpanID().String() {
		t.Errorf("log = %v, want the remote parent's ids %s %s", lines[0], parent.TraceID(), parent.SpanID())
	}
}
