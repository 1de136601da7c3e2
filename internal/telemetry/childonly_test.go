package telemetry

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

func TestChildSpansOnly(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())
	tr := ChildSpansOnly(tp).Tracer("test")

	_, orphan := tr.Start(context.Background(), "background")
	orphan.End()
	ctx, parent := tp.Tracer("test").Start(context.Background(), "request")
	_, child := tr.Start(ctx, "redis")
	child.End()
	parent.End()

	var names []string
	for _, s := range rec.Ended() {
		names = append(names, s.Name())
	}
	if len(names) != 2 || names[0] != "redis" || names[1] != "request" {
		t.Errorf("recorded spans %v, want [redis request]: no root span for background work", names)
	}
}
