package handlers

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/mxroute/mxroute/internal/apigen"
	"github.com/mxroute/mxroute/internal/gather"
	"github.com/mxroute/mxroute/internal/routing"
)

// Planner builds delivery plans; *gather.Service satisfies it.
type Planner interface {
	Plan(ctx context.Context, req gather.Request) routing.Plan
}

// routeHandlers serves GET /route.
type routeHandlers struct {
	planner Planner
	bounds  *Bounds
}

// GetRoute validates the query and translates the plan.
func (h routeHandlers) GetRoute(ctx context.Context, req apigen.GetRouteRequestObject) (apigen.GetRouteResponseObject, error) {
	domain, err := routing.NormalizeDomain(req.Params.Domain)
	if err != nil {
		return nil, err
	}
	r := gather.Request{Domain: domain}
	if req.Params.MaxAttempts != nil {
		if err := h.bounds.MaxAttempts.check("max_attempts", *req.Params.MaxAttempts); err != nil {
			return nil, err
		}
		r.MaxAttempts = *req.Params.MaxAttempts
	}
	if req.Params.Family != nil {
		switch f := routing.Family(*req.Params.Family); f {
		case routing.FamilyAny, routing.FamilyIPv4, routing.FamilyIPv6:
			r.Family = f
		default:
			return nil, &ParamError{Name: "family", Reason: "must be any, ipv4 or ipv6"}
		}
	}
	p := h.planner.Plan(ctx, r)
	return planResponse{plan: p, id: routeID(ctx)}, nil
}

// planResponse is the plan as GetRoute200JSONResponse would send it, with a
// hand-written encoder working from routing.Plan: the generated one goes
// through an apigen.Plan copy (an allocation per slice and per address
// string) and encoding/json's reflection into a buffer grown in steps,
// about a tenth of a cached /route's CPU. The bytes are the same as the
// generated response's (TestPlanResponseBytes): any string that is not
// plain printable ASCII is left to encoding/json.
type planResponse struct {
	plan routing.Plan
	id   string
}

var _ apigen.GetRouteResponseObject = planResponse{}

// VisitGetRouteResponse writes the plan as a 200 application/json answer.
func (r planResponse) VisitGetRouteResponse(w http.ResponseWriter) error {
	b := r.appendJSON(make([]byte, 0, 1024))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("write plan: %w", err)
	}
	return nil
}

// appendJSON appends what json.NewEncoder(w).Encode of the apigen.Plan
// would write, trailing newline included, fields in apigen's order.
func (r planResponse) appendJSON(b []byte) []byte {
	p := &r.plan
	b = append(b, `{"attempts":`...)
	b = appendList(b, p.Attempts, func(b []byte, a routing.Attempt) []byte {
		b = append(b, `{"address":"`...)
		b = a.Address.AppendTo(b)
		b = append(b, '"')
		if a.DANE {
			b = append(b, `,"dane":true`...)
		}
		b = appendField(b, `,"family":`, string(a.Family))
		b = appendField(b, `,"host":`, a.Host)
		b = append(b, `,"preference":`...)
		b = strconv.AppendUint(b, uint64(a.Preference), 10)
		b = appendField(b, `,"state":`, string(a.State))
		if len(a.TLSNames) > 0 {
			b = append(b, `,"tls_names":`...)
			b = appendList(b, a.TLSNames, appendString)
		}
		b = append(b, `,"tls_required":`...)
		b = strconv.AppendBool(b, a.TLSRequired)
		if len(a.TLSA) > 0 {
			b = append(b, `,"tlsa":`...)
			b = appendList(b, a.TLSA, appendTLSA)
		}
		return append(b, '}')
	})
	b = appendField(b, `,"disposition":`, string(p.Disposition))
	b = appendField(b, `,"domain":`, p.Domain)
	if p.EnhancedStatus != "" {
		b = appendField(b, `,"enhanced_status":`, p.EnhancedStatus)
	}
	b = append(b, `,"implicit_mx":`...)
	b = strconv.AppendBool(b, p.ImplicitMX)
	b = appendField(b, `,"reason":`, string(p.Reason))
	b = appendField(b, `,"route_id":`, r.id)
	b = append(b, `,"skipped":`...)
	b = appendList(b, p.Skipped, func(b []byte, s routing.Skipped) []byte {
		b = append(b, '{')
		if s.Address.IsValid() {
			b = append(b, `"address":"`...)
			b = s.Address.AppendTo(b)
			b = append(b, `",`...)
		}
		b = appendField(b, `"host":`, s.Host)
		b = append(b, `,"preference":`...)
		b = strconv.AppendUint(b, uint64(s.Preference), 10)
		b = appendField(b, `,"reason":`, string(s.Reason))
		return append(b, '}')
	})
	b = appendTLS(b, &p.TLS)
	b = append(b, `,"ttl":`...)
	b = strconv.AppendInt(b, int64(p.TTL.Seconds()), 10)
	b = append(b, `,"warnings":`...)
	b = appendList(b, p.Warnings, func(b []byte, w routing.Warning) []byte {
		b = appendField(b, `{"code":`, string(w.Code))
		if w.Host != "" {
			b = appendField(b, `,"host":`, w.Host)
		}
		b = appendField(b, `,"message":`, w.Message)
		return append(b, '}')
	})
	return append(b, "}\n"...)
}

// appendTLS appends the plan's "tls" member, fields in apigen's order.
func appendTLS(b []byte, t *routing.PlanTLS) []byte {
	b = append(b, `,"tls":{`...)
	sts := t.STS
	if sts == nil {
		b = appendField(b, `"mode":"none","policy":`, string(t.Kind))
		return append(b, '}')
	}
	b = append(b, `"expires_at":"`...)
	b = sts.ExpiresAt.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","max_age":`...)
	b = strconv.AppendInt(b, int64(sts.MaxAge.Seconds()), 10)
	b = appendField(b, `,"mode":`, string(sts.Mode))
	b = append(b, `,"mx_patterns":`...)
	b = appendList(b, sts.MX, appendString)
	b = appendField(b, `,"policy":`, string(t.Kind))
	b = appendField(b, `,"policy_id":`, sts.ID)
	b = appendField(b, `,"source":`, string(sts.Source))
	return append(b, '}')
}

func appendTLSA(b []byte, r routing.TLSA) []byte {
	b = appendField(b, `{"data":`, r.Data)
	b = append(b, `,"matching_type":`...)
	b = strconv.AppendUint(b, uint64(r.MatchingType), 10)
	b = append(b, `,"selector":`...)
	b = strconv.AppendUint(b, uint64(r.Selector), 10)
	b = append(b, `,"usage":`...)
	b = strconv.AppendUint(b, uint64(r.Usage), 10)
	return append(b, '}')
}

// appendList appends items as a JSON array; nil is [] as well, as the
// apigen copy always had a slice.
func appendList[T any](b []byte, items []T, each func([]byte, T) []byte) []byte {
	b = append(b, '[')
	for i, it := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = each(b, it)
	}
	return append(b, ']')
}

// appendField appends key (already JSON) and s as a JSON string.
func appendField(b []byte, key, s string) []byte {
	return appendString(append(b, key...), s)
}

// appendString appends s as encoding/json does. Plain printable ASCII
// without the characters it escapes is copied; anything else (control
// characters, quotes, backslashes, HTML's <, > and &, non-ASCII) goes
// through encoding/json itself, so the bytes never differ.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, err := json.Marshal(s)
			if err != nil {
				// A Go string always marshals; keep the output valid anyway.
				return append(b, `""`...)
			}
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// routeID is the trace id of the request: a sender echoes it in its
// reports, and the report's span links back to the plan's. With tracing
// off there is no trace id, but senders still need an id to echo, so a
// random one in the same format stands in.
func routeID(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if sc.HasTraceID() {
		return sc.TraceID().String()
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], rand.Uint64())
	binary.BigEndian.PutUint64(b[8:], rand.Uint64())
	return hex.EncodeToString(b[:])
}
