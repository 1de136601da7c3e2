package handlers

import (
	"context"
	"errors"
	"fmt"

	"github.com/mxroute/mxroute/internal/apigen"
	"github.com/mxroute/mxroute/internal/check"
	"github.com/mxroute/mxroute/internal/routing"
)

// Checker grades a domain's MX layout; the domain is already normalised.
type Checker interface {
	Check(ctx context.Context, domain string) (check.Report, error)
}

// checkHandlers serves GET /check.
type checkHandlers struct {
	checker Checker
}

// CheckDomain grades the layout. DNS failures are findings of the report,
// so an error here means the check itself could not run.
func (h checkHandlers) CheckDomain(ctx context.Context, req apigen.CheckDomainRequestObject) (apigen.CheckDomainResponseObject, error) {
	domain, err := routing.NormalizeDomain(req.Params.Domain)
	if err != nil {
		return nil, err
	}
	rep, err := h.checker.Check(ctx, domain)
	if errors.Is(err, check.ErrBusy) {
		return nil, &LimitError{Detail: err.Error(), RetryAfter: 1}
	}
	if err != nil {
		return nil, fmt.Errorf("check %s: %w", domain, err)
	}
	return apigen.CheckDomain200JSONResponse(checkJSON(rep)), nil
}

func checkJSON(r check.Report) apigen.CheckReport {
	out := apigen.CheckReport{
		Domain:        r.Domain,
		Status:        apigen.CheckReportStatus(r.Status),
		Grade:         apigen.CheckReportGrade(r.Grade),
		LoadBalancing: apigen.CheckReportLoadBalancing(r.LoadBalancing),
		Failover: apigen.Failover{
			Class:           apigen.FailoverClass(r.Failover.Class),
			UniqueAddresses: nonNil(r.Failover.UniqueAddresses),
			UniquePrefixes:  r.Failover.UniquePrefixes,
			EffectiveDepth:  r.Failover.EffectiveDepth,
		},
		Mx:             make([]apigen.CheckMX, len(r.MX)),
		Findings:       make([]apigen.Finding, len(r.Findings)),
		Recommendation: r.Recommendation,
	}
	for i, m := range r.MX {
		mx := apigen.CheckMX{Host: m.Host, Preference: m.Preference, Addresses: nonNil(m.Addresses), Ttl: m.TTL, Ptr: make([]apigen.PTRCheck, len(m.PTR))}
		for j, p := range m.PTR {
			mx.Ptr[j] = apigen.PTRCheck{Address: p.Address, Names: nonNil(p.Names), ForwardConfirmed: p.ForwardConfirmed}
		}
		out.Mx[i] = mx
	}
	for i, f := range r.Findings {
		fd := apigen.Finding{Code: f.Code, Level: apigen.FindingLevel(f.Level), Message: f.Message}
		if len(f.Hosts) > 0 {
			h := f.Hosts
			fd.Hosts = &h
		}
		if len(f.Addresses) > 0 {
			a := f.Addresses
			fd.Addresses = &a
		}
		out.Findings[i] = fd
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
