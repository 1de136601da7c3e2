package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/mxroute/mxroute/internal/apigen"
	"github.com/mxroute/mxroute/internal/auth"
	"github.com/mxroute/mxroute/internal/feedback"
)

// MaxBody bounds a request body in bytes, the contract's 1 MiB. JSON
// Schema cannot state a body's size, so this constant is its one place.
const MaxBody = 1 << 20

// maxRouteLinks bounds the links from one feedback span to the plans its
// reports followed. A batch may cite a thousand plans, but the SDK keeps
// 128 links per span by default, and a trace viewer shows only a handful
// usefully.
const maxRouteLinks = 32

// ReportSink accepts validated reports; *feedback.Service satisfies it.
type ReportSink interface {
	// SubmitOnce applies reports at most once per reporter and
	// idempotency key ("": no key).
	SubmitOnce(ctx context.Context, idempotencyKey string, reports []feedback.Report) (int, error)
}

// feedbackHandlers serves POST /feedback.
type feedbackHandlers struct {
	sink   ReportSink
	bounds *Bounds
}

// PostFeedback validates the whole batch before anything is applied: one
// bad report rejects the batch, so a sender never has to work out which
// half of its batch took effect.
func (h feedbackHandlers) PostFeedback(ctx context.Context, req apigen.PostFeedbackRequestObject) (apigen.PostFeedbackResponseObject, error) {
	id, _ := auth.FromContext(ctx)
	if id.Role != "" && id.Role != auth.RoleSender && id.Role != auth.RoleAdmin {
		return nil, &ForbiddenError{Detail: "this token may not report"}
	}
	if req.Body == nil || req.Body.Reports == nil {
		return nil, &ParamError{Name: "reports", Reason: "is required"}
	}
	n := len(req.Body.Reports)
	if n < h.bounds.Reports.Min || n > h.bounds.Reports.Max {
		return nil, &ParamError{Name: "reports", Reason: fmt.Sprintf("holds %d reports; a batch holds %d to %d", n, h.bounds.Reports.Min, h.bounds.Reports.Max)}
	}
	reports := make([]feedback.Report, 0, n)
	var bad []apigen.InvalidParam
	for i, r := range req.Body.Reports {
		rep, err := toReport(r, id.Name, h.bounds.Report)
		if err != nil {
			bad = append(bad, apigen.InvalidParam{Name: fmt.Sprintf("reports[%d]", i), Reason: err.Error()})
			if len(bad) == maxListedBad {
				break
			}
			continue
		}
		reports = append(reports, rep)
	}
	if len(bad) > 0 {
		return nil, &ReportsError{Invalid: bad, Total: n}
	}
	linkRoutes(ctx, reports)
	key := ""
	if req.Params.IdempotencyKey != nil {
		key = *req.Params.IdempotencyKey
	}
	accepted, err := h.sink.SubmitOnce(ctx, key, reports)
	if err != nil {
		// A *feedback.FieldError (the service checks again with its own
		// clock) is a 400 in problemFor, a *feedback.OverloadedError a
		// 503 with Retry-After; anything else is the store.
		if errors.As(err, new(*feedback.FieldError)) || errors.As(err, new(*feedback.OverloadedError)) {
			return nil, err
		}
		return nil, &StoreError{Op: "accepting the reports", Err: err}
	}
	return apigen.PostFeedback202JSONResponse{Accepted: accepted}, nil
}

// maxListedBad bounds the invalid reports a 400 lists: enough to fix the
// sender, few enough to keep the reply small.
const maxListedBad = 20

func countBad(n int) string {
	if n == maxListedBad {
		return fmt.Sprintf("at least %d", n)
	}
	return fmt.Sprint(n)
}

// linkRoutes links the request's span to the GET /route spans of the plans
// the reports followed, so that a plan and what senders reported about it
// can be read side by side. A route id is the route span's trace id; its
// span id is not known here, so the link has a zero span id and carries the
// route id as an attribute, which is how OpenTelemetry records a link to a
// trace rather than to one span. Route ids that are not trace ids (a
// sender's own, say) are ignored: they are still stored with the report.
func linkRoutes(ctx context.Context, reports []feedback.Report) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	seen := make(map[trace.TraceID]bool)
	for _, r := range reports {
		if len(seen) == maxRouteLinks {
			return
		}
		tid, err := trace.TraceIDFromHex(strings.ToLower(r.RouteID))
		if err != nil || seen[tid] {
			continue
		}
		seen[tid] = true
		span.AddLink(trace.Link{
			SpanContext: trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, Remote: true}),
			Attributes:  []attribute.KeyValue{attribute.String("mxroute.route_id", r.RouteID)},
		})
	}
}

// toReport checks r against the contract's bounds, then converts it and
// has the feedback package validate it.
func toReport(r apigen.Report, reporter string, b ReportBounds) (feedback.Report, error) {
	if err := checkReportBounds(r, b); err != nil {
		return feedback.Report{}, err
	}
	addr, err := netip.ParseAddr(strings.TrimSpace(r.Address))
	if err != nil {
		return feedback.Report{}, fmt.Errorf("address: %q is not an IP address", r.Address)
	}
	rep := feedback.Report{
		Address:  addr.Unmap(),
		Outcome:  feedback.Outcome(r.Outcome),
		Stage:    feedback.Stage(r.Stage),
		Reporter: reporter,
	}
	if r.Host != nil {
		rep.Host = *r.Host
	}
	if r.Domain != nil {
		rep.Domain = *r.Domain
	}
	if r.SmtpCode != nil {
		rep.SMTPCode = *r.SmtpCode
	}
	if r.EnhancedCode != nil {
		rep.EnhancedCode = *r.EnhancedCode
	}
	if r.LatencyMs != nil {
		rep.LatencyMS = *r.LatencyMs
	}
	if r.ObservedAt != nil {
		rep.ObservedAt = *r.ObservedAt
	}
	if r.RouteId != nil {
		rep.RouteID = *r.RouteId
	}
	if err := rep.Validate(); err != nil {
		return feedback.Report{}, err
	}
	return rep, nil
}

// retryAfter formats a Retry-After header value in whole seconds.
func retryAfter(seconds int) string { return strconv.Itoa(max(seconds, 1)) }

// checkReportBounds rejects a report field beyond the contract's bounds,
// with the field's JSON name as the feedback package does. The feedback
// package has its own limits on what it stores; the contract's are what a
// sender is promised, and TestReportBoundsWithinFeedback keeps them
// within the package's.
func checkReportBounds(r apigen.Report, b ReportBounds) error {
	if r.SmtpCode != nil && (*r.SmtpCode < b.SMTPCode.Min || *r.SmtpCode > b.SMTPCode.Max) {
		return &feedback.FieldError{Field: "smtp_code", Reason: fmt.Sprintf("%d is outside %d..%d; leave it out when there was no reply", *r.SmtpCode, b.SMTPCode.Min, b.SMTPCode.Max)}
	}
	for _, f := range []struct {
		name  string
		value *string
		limit int
	}{{"host", r.Host, b.Name}, {"domain", r.Domain, b.Name}, {"route_id", r.RouteId, b.RouteID}} {
		if f.value != nil && len(*f.value) > f.limit {
			return &feedback.FieldError{Field: f.name, Reason: fmt.Sprintf("%d bytes; at most %d", len(*f.value), f.limit)}
		}
	}
	return nil
}
