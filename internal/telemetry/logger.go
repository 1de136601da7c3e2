package telemetry

import (
	"context"
	"io"
	"log/slog"
	"sync"

	"go.opentelemetry.io/otel/trace"
)

// Attribute keys the logger adds to records logged inside a span.
const (
	logKeyTraceID = "trace_id"
	logKeySpanID  = "span_id"
)

// newLogger returns a JSON logger writing to w whose records carry the ids
// of the span in their context, so that a log line leads to its trace.
func newLogger(w io.Writer, level slog.Leveler) *slog.Logger {
	return slog.New(traceHandler{slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})})
}

// traceHandler adds trace_id and span_id to the records of the handler it
// wraps when the record's context carries a valid span context. That
// includes the non-recording spans of a no-op provider and remote parents
// from a traceparent header: the ids still join this log to the caller's
// trace even when this server exports none.
//
// Under WithGroup the ids land inside the group, as any attribute added by
// Handle does; keeping them at the top level would mean reimplementing the
// JSON handler's grouping, and mxroute does not log under groups.
type traceHandler struct{ inner slog.Handler }

var _ slog.Handler = traceHandler{}

// Enabled reports whether the wrapped handler logs at level.
func (h traceHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.inner.Enabled(ctx, level)
}

// Handle adds the span's ids, if any, and passes the record on. Adding to r
// in place is safe: the Logger built r for this call alone.
func (h traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(
			slog.String(logKeyTraceID, sc.TraceID().String()),
			slog.String(logKeySpanID, sc.SpanID().String()))
	}
	return h.inner.Handle(ctx, r)
}

// WithAttrs returns a traceHandler around the wrapped handler's WithAttrs.
func (h traceHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return traceHandler{h.inner.WithAttrs(attrs)}
}

// WithGroup returns a traceHandler around the wrapped handler's WithGroup.
func (h traceHandler) WithGroup(name string) slog.Handler {
	return traceHandler{h.inner.WithGroup(name)}
}

// lockedWriter serialises writes from the logger and the console exporters,
// which share one writer but not a lock, so that their lines do not
// interleave and a bytes.Buffer in a test is not raced.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

// Write writes p to the underlying writer under the lock.
func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
