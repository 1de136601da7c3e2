package handlers

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mxroute/mxroute/internal/apigen"
	"github.com/mxroute/mxroute/internal/auth"
	"github.com/mxroute/mxroute/internal/feedback"
)

// HostRegistry reads and changes the fleet's health state;
// *feedback.Service satisfies it.
type HostRegistry interface {
	Host(ctx context.Context, addr netip.Addr) (feedback.HostStatus, error)
	ListHosts(ctx context.Context, q feedback.HostQuery) (feedback.HostPage, error)
	Drain(ctx context.Context, addr netip.Addr, d time.Duration, reason, by string) (feedback.HostStatus, error)
	Undrain(ctx context.Context, addr netip.Addr) (feedback.HostStatus, error)
}

// hostHandlers serves /hosts.
type hostHandlers struct {
	hosts  HostRegistry
	bounds *Bounds
	// neverDials is the planner's address filter: an address no plan can
	// contain has no health worth keeping, so draining it is a 400.
	neverDials func(netip.Addr) bool
}

func parseAddress(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, &ParamError{Name: "address", Reason: fmt.Sprintf("%q is not an IP address", s)}
	}
	return a.Unmap(), nil
}

// needAdmin refuses tokens without the admin role; without tokens
// configured there is no role and anyone may drain.
func needAdmin(ctx context.Context) error {
	if id, _ := auth.FromContext(ctx); id.Role != "" && id.Role != auth.RoleAdmin {
		return &ForbiddenError{Detail: "this needs a token with the admin role"}
	}
	return nil
}

// GetHost reports one address.
func (h hostHandlers) GetHost(ctx context.Context, req apigen.GetHostRequestObject) (apigen.GetHostResponseObject, error) {
	a, err := parseAddress(req.Address)
	if err != nil {
		return nil, err
	}
	st, err := h.hosts.Host(ctx, a)
	if err != nil {
		return nil, storeErr("reading the address's state", err)
	}
	return apigen.GetHost200JSONResponse(hostJSON(st)), nil
}

// ListHosts reports a page of the addresses that are not healthy.
func (h hostHandlers) ListHosts(ctx context.Context, req apigen.ListHostsRequestObject) (apigen.ListHostsResponseObject, error) {
	q, err := h.hostQuery(req.Params)
	if err != nil {
		return nil, err
	}
	page, err := h.hosts.ListHosts(ctx, q)
	if err != nil {
		return nil, storeErr("listing addresses", err)
	}
	return hostListResponse{page: page}, nil
}

// hostQuery translates the listing's query parameters.
func (h hostHandlers) hostQuery(p apigen.ListHostsParams) (feedback.HostQuery, error) {
	q := feedback.HostQuery{Limit: h.bounds.HostsPage.Default}
	if p.State != nil {
		switch s := *p.State; s {
		case apigen.HostStateFilterDemoted, apigen.HostStateFilterDrained:
			q.State = feedback.State(s)
		case apigen.HostStateFilterAll:
		default:
			return q, &ParamError{Name: "state", Reason: "must be demoted, drained or all"}
		}
	}
	if p.Prefix != nil {
		pfx, err := parsePrefix(*p.Prefix)
		if err != nil {
			return q, &ParamError{Name: "prefix", Reason: fmt.Sprintf("%q is not a network (192.0.2.0/24) or an address", *p.Prefix)}
		}
		q.Prefix = pfx
	}
	if p.Limit != nil {
		if err := h.bounds.HostsPage.Range.check("limit", *p.Limit); err != nil {
			return q, err
		}
		q.Limit = *p.Limit
	}
	if p.Cursor != nil {
		a, ok := decodeCursor(*p.Cursor)
		if !ok {
			return q, &ParamError{Name: "cursor", Reason: "is not a cursor this service handed out"}
		}
		q.After = a
	}
	return q, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

// cursorVersion starts every cursor, so that the format can change
// without an old cursor being misread.
const cursorVersion = "1:"

// encodeCursor makes the opaque next_cursor: the last address listed.
func encodeCursor(after netip.Addr) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorVersion + after.String()))
}

func decodeCursor(c string) (netip.Addr, bool) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return netip.Addr{}, false
	}
	s, ok := strings.CutPrefix(string(b), cursorVersion)
	if !ok {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	return a, err == nil && a.Zone() == ""
}

// DrainHost takes an address out of the lead for a while.
func (h hostHandlers) DrainHost(ctx context.Context, req apigen.DrainHostRequestObject) (apigen.DrainHostResponseObject, error) {
	if err := needAdmin(ctx); err != nil {
		return nil, err
	}
	a, err := parseAddress(req.Address)
	if err != nil {
		return nil, err
	}
	if h.neverDials(a) {
		return nil, &ParamError{Name: "address", Reason: a.String() + " is never dialled by any plan (unspecified, loopback, link-local, multicast, broadcast or MXROUTE_IGNORE_NETWORKS); there is nothing to drain"}
	}
	if req.Body == nil {
		return nil, &ParamError{Name: "duration_seconds", Reason: "is required"}
	}
	if err := h.bounds.DrainSeconds.check("duration_seconds", req.Body.DurationSeconds); err != nil {
		return nil, err
	}
	reason := ""
	if req.Body.Reason != nil {
		reason = *req.Body.Reason
	}
	if n := utf8.RuneCountInString(reason); n > h.bounds.DrainReason {
		return nil, &ParamError{Name: "reason", Reason: fmt.Sprintf("must be at most %d characters", h.bounds.DrainReason)}
	}
	id, _ := auth.FromContext(ctx)
	st, err := h.hosts.Drain(ctx, a, time.Duration(req.Body.DurationSeconds)*time.Second, reason, id.Name)
	if errors.As(err, new(*feedback.DrainLimitError)) {
		return nil, err
	}
	if err != nil {
		return nil, storeErr("the drain", err)
	}
	return apigen.DrainHost200JSONResponse(hostJSON(st)), nil
}

// UndrainHost ends a drain.
func (h hostHandlers) UndrainHost(ctx context.Context, req apigen.UndrainHostRequestObject) (apigen.UndrainHostResponseObject, error) {
	if err := needAdmin(ctx); err != nil {
		return nil, err
	}
	a, err := parseAddress(req.Address)
	if err != nil {
		return nil, err
	}
	st, err := h.hosts.Undrain(ctx, a)
	if err != nil {
		return nil, storeErr("ending the drain", err)
	}
	return apigen.UndrainHost200JSONResponse(hostJSON(st)), nil
}

// storeErr marks err as the health store's, unless the service refused
// the input itself (a *feedback.FieldError, a 400).
func storeErr(op string, err error) error {
	if errors.As(err, new(*feedback.FieldError)) {
		return err
	}
	return &StoreError{Op: op, Err: err}
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
