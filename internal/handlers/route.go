package handlers

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"strings"

	"go.opentelemetry.io/otel/trace"

	"github.com/mxroute/mxroute/internal/apigen"
	"github.com/mxroute/mxroute/internal/route"
	"github.com/mxroute/mxroute/internal/routing"
)

// Planner builds delivery plans; *route.Service satisfies it.
type Planner interface {
	Plan(ctx context.Context, req route.Request) routing.Plan
}

// routeHandlers serves GET /route.
type routeHandlers struct {
	planner Planner
}

// GetRoute validates the query and translates the plan.
func (h routeHandlers) GetRoute(ctx context.Context, req apigen.GetRouteRequestObject) (apigen.GetRouteResponseObject, error) {
	domain, err := routing.NormalizeDomain(req.Params.Domain)
	if err != nil {
		return apigen.GetRoute400ApplicationProblemPlusJSONResponse{BadRequestApplicationProblemPlusJSONResponse: apigen.BadRequestApplicationProblemPlusJSONResponse(invalidParam("domain",
			strings.TrimPrefix(err.Error(), routing.ErrInvalidDomain.Error()+": ")))}, nil
	}
	r := route.Request{Domain: domain}
	if req.Params.MaxAttempts != nil {
		if n := *req.Params.MaxAttempts; n < 1 || n > 100 {
			return apigen.GetRoute400ApplicationProblemPlusJSONResponse{BadRequestApplicationProblemPlusJSONResponse: apigen.BadRequestApplicationProblemPlusJSONResponse(invalidParam("max_attempts", "must be between 1 and 100"))}, nil
		}
		r.MaxAttempts = *req.Params.MaxAttempts
	}
	if req.Params.Family != nil {
		switch f := routing.Family(*req.Params.Family); f {
		case routing.FamilyAny, routing.FamilyIPv4, routing.FamilyIPv6:
			r.Family = f
		default:
			return apigen.GetRoute400ApplicationProblemPlusJSONResponse{BadRequestApplicationProblemPlusJSONResponse: apigen.BadRequestApplicationProblemPlusJSONResponse(invalidParam("family", "must be any, ipv4 or ipv6"))}, nil
		}
	}
	p := h.planner.Plan(ctx, r)
	return apigen.GetRoute200JSONResponse(planJSON(p, routeID(ctx))), nil
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

func planJSON(p routing.Plan, id string) apigen.Plan {
	out := apigen.Plan{
		Domain:      p.Domain,
		Disposition: apigen.Disposition(p.Disposition),
		Reason:      apigen.Reason(p.Reason),
		ImplicitMx:  p.ImplicitMX,
		Ttl:         int(p.TTL.Seconds()),
		RouteId:     id,
		Attempts:    make([]apigen.Attempt, len(p.Attempts)),
		Skipped:     make([]apigen.Skipped, len(p.Skipped)),
		Warnings:    make([]apigen.Warning, len(p.Warnings)),
	}
	if p.EnhancedStatus != "" {
		s := p.EnhancedStatus
		out.EnhancedStatus = &s
	}
	for i, a := range p.Attempts {
		out.Attempts[i] = apigen.Attempt{
			Host:       a.Host,
			Preference: int(a.Preference),
			Address:    a.Address.String(),
			Family:     apigen.Family(a.Family),
			State:      apigen.HostState(a.State),
		}
	}
	for i, s := range p.Skipped {
		out.Skipped[i] = apigen.Skipped{Host: s.Host, Preference: int(s.Preference), Reason: apigen.SkippedReason(s.Reason)}
		if s.Address.IsValid() {
			a := s.Address.String()
			out.Skipped[i].Address = &a
		}
	}
	for i, w := range p.Warnings {
		out.Warnings[i] = apigen.Warning{Code: apigen.WarningCode(w.Code), Message: w.Message}
		if w.Host != "" {
			h := w.Host
			out.Warnings[i].Host = &h
		}
	}
	return out
}
