package handlers

import (
	"bytes"
	"context"

	"github.com/mxroute/mxroute/internal/apigen"
)

// ReadyCheck is the state of one dependency, for /readyz.
type ReadyCheck struct {
	// Name of the dependency, e.g. "dns" or "redis".
	Name string
	// Status is ok, degraded or failing.
	Status string
	// Detail says what is wrong, for an operator.
	Detail string
}

// Readiness reports whether the service should receive traffic and what
// is degraded. Degraded is still ready: routing keeps working without
// Redis (last known view) and without DNS (stale answers).
type Readiness interface {
	Ready(ctx context.Context) (ready bool, checks []ReadyCheck)
}

// opsHandlers serves the operational endpoints.
type opsHandlers struct {
	ready Readiness
	spec  []byte
}

// GetHealthz says the process is alive; it checks nothing else, so a
// Redis outage never gets pods restarted.
func (opsHandlers) GetHealthz(context.Context, apigen.GetHealthzRequestObject) (apigen.GetHealthzResponseObject, error) {
	return apigen.GetHealthz200JSONResponse{Status: apigen.HealthStatusOk}, nil
}

// GetReadyz reports readiness and each component's state; the details,
// which may name resolver and Redis addresses or reported hosts, only with
// verbose=true, for admins.
func (h opsHandlers) GetReadyz(ctx context.Context, req apigen.GetReadyzRequestObject) (apigen.GetReadyzResponseObject, error) {
	verbose := req.Params.Verbose != nil && *req.Params.Verbose
	if verbose {
		if err := needAdmin(ctx); err != nil {
			return nil, err
		}
	}
	ready, checks := h.ready.Ready(ctx)
	out := apigen.Readiness{Status: apigen.ReadinessStatusReady, Checks: make([]apigen.ReadinessCheck, len(checks))}
	for i, c := range checks {
		out.Checks[i] = apigen.ReadinessCheck{Name: c.Name, Status: apigen.ReadinessCheckStatus(c.Status)}
		if c.Detail != "" && verbose {
			d := c.Detail
			out.Checks[i].Detail = &d
		}
		if c.Status != "ok" {
			out.Status = apigen.ReadinessStatusDegraded
		}
	}
	if !ready {
		out.Status = apigen.ReadinessStatusNotReady
		return apigen.GetReadyz503JSONResponse(out), nil
	}
	return apigen.GetReadyz200JSONResponse(out), nil
}

// GetOpenAPI serves the contract the server was generated from.
func (h opsHandlers) GetOpenAPI(context.Context, apigen.GetOpenAPIRequestObject) (apigen.GetOpenAPIResponseObject, error) {
	return apigen.GetOpenAPI200ApplicationyamlResponse{Body: bytes.NewReader(h.spec), ContentLength: int64(len(h.spec))}, nil
}
