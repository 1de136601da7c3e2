package handlers

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/mxroute/mxroute/internal/apigen"
	"github.com/mxroute/mxroute/internal/auth"
	"github.com/mxroute/mxroute/internal/feedback"
)

// HostRegistry reads and changes the fleet's health state;
// *feedback.Service satisfies it.
type HostRegistry interface {
	Host(ctx context.Context, addr netip.Addr) (feedback.HostStatus, error)
	Hosts(ctx context.Context, state feedback.State) ([]feedback.HostStatus, error)
	Drain(ctx context.Context, addr netip.Addr, d time.Duration, reason, by string) (feedback.HostStatus, error)
	Undrain(ctx context.Context, addr netip.Addr) (feedback.HostStatus, error)
}

// maxDrain bounds a drain: a forgotten drain should not outlive a week.
const maxDrain = 7 * 24 * time.Hour

// hostHandlers serves /hosts.
type hostHandlers struct {
	hosts HostRegistry
}

func parseAddress(s string) (netip.Addr, *apigen.Problem) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		p := invalidParam("address", fmt.Sprintf("%q is not an IP address", s))
		return netip.Addr{}, &p
	}
	return a.Unmap(), nil
}

func unavailable(err error) apigen.Problem {
	return problem(http.StatusServiceUnavailable, "unavailable", "Health store unavailable", err.Error())
}

func forbidden(ctx context.Context) *apigen.Problem {
	id, _ := auth.FromContext(ctx)
	if id.Role == "" || id.Role == auth.RoleAdmin {
		return nil
	}
	p := problem(http.StatusForbidden, "forbidden", "Forbidden", "draining needs a token with the admin role")
	return &p
}

// GetHost reports one address.
func (h hostHandlers) GetHost(ctx context.Context, req apigen.GetHostRequestObject) (apigen.GetHostResponseObject, error) {
	a, bad := parseAddress(req.Address)
	if bad != nil {
		return apigen.GetHost400ApplicationProblemPlusJSONResponse{BadRequestApplicationProblemPlusJSONResponse: apigen.BadRequestApplicationProblemPlusJSONResponse(*bad)}, nil
	}
	st, err := h.hosts.Host(ctx, a)
	if err != nil {
		return apigen.GetHost503ApplicationProblemPlusJSONResponse{UnavailableApplicationProblemPlusJSONResponse: apigen.UnavailableApplicationProblemPlusJSONResponse(unavailable(err))}, nil
	}
	return apigen.GetHost200JSONResponse(hostJSON(st)), nil
}

// ListHosts reports the addresses that are not healthy.
func (h hostHandlers) ListHosts(ctx context.Context, req apigen.ListHostsRequestObject) (apigen.ListHostsResponseObject, error) {
	var state feedback.State
	if req.Params.State != nil {
		switch s := *req.Params.State; s {
		case apigen.HostStateFilterDemoted, apigen.HostStateFilterDrained:
			state = feedback.State(s)
		case apigen.HostStateFilterAll:
		default:
			return apigen.ListHosts400ApplicationProblemPlusJSONResponse{BadRequestApplicationProblemPlusJSONResponse: apigen.BadRequestApplicationProblemPlusJSONResponse(invalidParam("state", "must be demoted, drained or all"))}, nil
		}
	}
	list, err := h.hosts.Hosts(ctx, state)
	if err != nil {
		return apigen.ListHosts503ApplicationProblemPlusJSONResponse{UnavailableApplicationProblemPlusJSONResponse: apigen.UnavailableApplicationProblemPlusJSONResponse(unavailable(err))}, nil
	}
	out := apigen.HostList{Hosts: make([]apigen.HostStatus, len(list))}
	for i, st := range list {
		out.Hosts[i] = hostJSON(st)
	}
	return apigen.ListHosts200JSONResponse(out), nil
}

// DrainHost takes an address out of the lead for a while.
func (h hostHandlers) DrainHost(ctx context.Context, req apigen.DrainHostRequestObject) (apigen.DrainHostResponseObject, error) {
	if p := forbidden(ctx); p != nil {
		return apigen.DrainHost403ApplicationProblemPlusJSONResponse{ForbiddenApplicationProblemPlusJSONResponse: apigen.ForbiddenApplicationProblemPlusJSONResponse(*p)}, nil
	}
	a, bad := parseAddress(req.Address)
	if bad != nil {
		return apigen.DrainHost400ApplicationProblemPlusJSONResponse{BadRequestApplicationProblemPlusJSONResponse: apigen.BadRequestApplicationProblemPlusJSONResponse(*bad)}, nil
	}
	if req.Body == nil {
		return apigen.DrainHost400ApplicationProblemPlusJSONResponse{BadRequestApplicationProblemPlusJSONResponse: apigen.BadRequestApplicationProblemPlusJSONResponse(invalidParam("duration_seconds", "is required"))}, nil
	}
	d := time.Duration(req.Body.DurationSeconds) * time.Second
	if d < time.Second || d > maxDrain {
		return apigen.DrainHost400ApplicationProblemPlusJSONResponse{BadRequestApplicationProblemPlusJSONResponse: apigen.BadRequestApplicationProblemPlusJSONResponse(invalidParam("duration_seconds", "must be between 1 and 604800"))}, nil
	}
	reason := ""
	if req.Body.Reason != nil {
		reason = *req.Body.Reason
	}
	if len(reason) > 512 {
		return apigen.DrainHost400ApplicationProblemPlusJSONResponse{BadRequestApplicationProblemPlusJSONResponse: apigen.BadRequestApplicationProblemPlusJSONResponse(invalidParam("reason", "must be at most 512 characters"))}, nil
	}
	id, _ := auth.FromContext(ctx)
	st, err := h.hosts.Drain(ctx, a, d, reason, id.Name)
	if err != nil {
		return apigen.DrainHost503ApplicationProblemPlusJSONResponse{UnavailableApplicationProblemPlusJSONResponse: apigen.UnavailableApplicationProblemPlusJSONResponse(unavailable(err))}, nil
	}
	return apigen.DrainHost200JSONResponse(hostJSON(st)), nil
}

// UndrainHost ends a drain.
func (h hostHandlers) UndrainHost(ctx context.Context, req apigen.UndrainHostRequestObject) (apigen.UndrainHostResponseObject, error) {
	if p := forbidden(ctx); p != nil {
		return apigen.UndrainHost403ApplicationProblemPlusJSONResponse{ForbiddenApplicationProblemPlusJSONResponse: apigen.ForbiddenApplicationProblemPlusJSONResponse(*p)}, nil
	}
	a, bad := parseAddress(req.Address)
	if bad != nil {
		return apigen.UndrainHost400ApplicationProblemPlusJSONResponse{BadRequestApplicationProblemPlusJSONResponse: apigen.BadRequestApplicationProblemPlusJSONResponse(*bad)}, nil
	}
	st, err := h.hosts.Undrain(ctx, a)
	if err != nil {
		return apigen.UndrainHost503ApplicationProblemPlusJSONResponse{UnavailableApplicationProblemPlusJSONResponse: apigen.UnavailableApplicationProblemPlusJSONResponse(unavailable(err))}, nil
	}
	return apigen.UndrainHost200JSONResponse(hostJSON(st)), nil
}

func hostJSON(st feedback.HostStatus) apigen.HostStatus {
	out := apigen.HostStatus{
		Address:         st.Address.String(),
		State:           apigen.HostState(st.State),
		Votes:           st.Votes,
		Reporters:       st.Reporters,
		RecentFailures:  st.RecentFailures,
		RecentSuccesses: st.RecentSuccesses,
		Demotions:       st.Demotions,
	}
	if out.Votes == nil {
		out.Votes = []string{}
	}
	if !st.Until.IsZero() {
		u := st.Until.UTC()
		out.Until = &u
	}
	if st.DrainReason != "" {
		r := st.DrainReason
		out.DrainReason = &r
	}
	if f := st.LastFailure; f != nil {
		lf := apigen.FailureDetail{Reporter: f.Reporter, Stage: string(f.Stage), At: f.At.UTC()}
		if f.Host != "" {
			lf.Host = &f.Host
		}
		if f.Domain != "" {
			lf.Domain = &f.Domain
		}
		if f.SMTPCode != 0 {
			lf.SmtpCode = &f.SMTPCode
		}
		if f.EnhancedCode != "" {
			lf.EnhancedCode = &f.EnhancedCode
		}
		out.LastFailure = &lf
	}
	return out
}
