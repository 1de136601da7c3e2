package main

import (
	"testing"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// TestSpansIn checks the wire walk against messages built with the
// generated OTLP types, including fields it must skip.
func TestSpansIn(t *testing.T) {
	span := func(name string) *tracepb.Span {
		return &tracepb.Span{Name: name, TraceId: make([]byte, 16), SpanId: make([]byte, 8),
			Attributes: []*commonpb.KeyValue{{Key: "k", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: 7}}}}}
	}
	for _, tc := range []struct {
		name string
		req  *collectortrace.ExportTraceServiceRequest
		want int
	}{
		{"empty", &collectortrace.ExportTraceServiceRequest{}, 0},
		{"one", &collectortrace.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{
			{ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{span("a")}}}},
		}}, 1},
		{"nested", &collectortrace.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{
			{SchemaUrl: "x", ScopeSpans: []*tracepb.ScopeSpans{
				{Scope: &commonpb.InstrumentationScope{Name: "s"}, Spans: []*tracepb.Span{span("a"), span("b")}},
				{Spans: []*tracepb.Span{span("c")}},
			}},
			{ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{span("d"), span("e"), span("f")}}}},
		}}, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := proto.Marshal(tc.req)
			if err != nil {
				t.Fatal(err)
			}
			got, err := spansIn(b)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("spansIn = %d, want %d", got, tc.want)
			}
		})
	}
	if _, err := spansIn([]byte{0x0a, 0x05, 0x01}); err == nil {
		t.Errorf("spansIn of a truncated message: no error")
	}
}
