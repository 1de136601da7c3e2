package handlers

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/mxroute/mxroute/internal/apigen"
)

// Bounds are the contract's limits on requests. api/openapi.yaml states
// each one once (minimum, maximum, maxItems, maxLength); ContractBounds
// reads them from the embedded spec, so the handlers, the feedback
// service's drain limits (wired in cmd/mxroute) and the published contract
// cannot drift apart.
type Bounds struct {
	// MaxAttempts bounds GET /route's max_attempts.
	MaxAttempts IntRange
	// Reports bounds the reports of one POST /feedback batch.
	Reports IntRange
	// DrainSeconds bounds a drain's duration_seconds.
	DrainSeconds IntRange
	// DrainReason is the longest drain reason, in characters.
	DrainReason int
	// HostsPage bounds GET /hosts's limit, and gives its default.
	HostsPage struct {
		Range   IntRange
		Default int
	}
}

// IntRange is an inclusive range.
type IntRange struct{ Min, Max int }

// check returns a *ParamError naming name when n is outside r.
func (r IntRange) check(name string, n int) error {
	if n < r.Min || n > r.Max {
		return &ParamError{Name: name, Reason: fmt.Sprintf("must be between %d and %d", r.Min, r.Max)}
	}
	return nil
}

// DrainDurations returns DrainSeconds as durations, for feedback.Policy.
func (b Bounds) DrainDurations() (lo, hi time.Duration) {
	return time.Duration(b.DrainSeconds.Min) * time.Second, time.Duration(b.DrainSeconds.Max) * time.Second
}

// ContractBounds returns the bounds stated in the embedded contract. The
// spec is compiled in, so a missing bound is a build defect: it panics,
// and TestContractBounds catches it first.
func ContractBounds() Bounds {
	b, err := contractBounds()
	if err != nil {
		panic(err)
	}
	return b
}

var contractBounds = sync.OnceValues(func() (Bounds, error) {
	spec, err := apigen.GetSpec()
	if err != nil {
		return Bounds{}, fmt.Errorf("contract: %w", err)
	}
	var errs []error
	rng := func(what string, s *openapi3.Schema, items bool) IntRange {
		switch {
		case s == nil:
			errs = append(errs, fmt.Errorf("contract: %s: no schema", what))
		case items && s.MaxItems != nil:
			return IntRange{Min: int(s.MinItems), Max: int(*s.MaxItems)}
		case !items && s.Min != nil && s.Max != nil:
			return IntRange{Min: int(*s.Min), Max: int(*s.Max)}
		default:
			errs = append(errs, fmt.Errorf("contract: %s: no bounds", what))
		}
		return IntRange{}
	}
	prop := func(schema, name string) *openapi3.Schema {
		if ref := spec.Components.Schemas[schema]; ref != nil && ref.Value != nil {
			if p := ref.Value.Properties[name]; p != nil {
				return p.Value
			}
		}
		return nil
	}
	var maxAttempts *openapi3.Schema
	if op := spec.Paths.Find("/route"); op != nil && op.Get != nil {
		if p := op.Get.Parameters.GetByInAndName("query", "max_attempts"); p != nil && p.Schema != nil {
			maxAttempts = p.Schema.Value
		}
	}
	b := Bounds{
		MaxAttempts:  rng("max_attempts", maxAttempts, false),
		Reports:      rng("FeedbackBatch.reports", prop("FeedbackBatch", "reports"), true),
		DrainSeconds: rng("DrainRequest.duration_seconds", prop("DrainRequest", "duration_seconds"), false),
	}
	b.HostsPage.Range, b.HostsPage.Default = hostsPage(spec, rng)
	if r := prop("DrainRequest", "reason"); r != nil && r.MaxLength != nil {
		b.DrainReason = int(*r.MaxLength)
	} else {
		errs = append(errs, errors.New("contract: DrainRequest.reason: no maxLength"))
	}
	return b, errors.Join(errs...)
})

// hostsPage reads GET /hosts's limit parameter: its range and default.
func hostsPage(spec *openapi3.T, rng func(string, *openapi3.Schema, bool) IntRange) (IntRange, int) {
	var limit *openapi3.Schema
	if op := spec.Paths.Find("/hosts"); op != nil && op.Get != nil {
		if p := op.Get.Parameters.GetByInAndName("query", "limit"); p != nil && p.Schema != nil {
			limit = p.Schema.Value
		}
	}
	r := rng("/hosts limit", limit, false)
	def := r.Max
	if limit != nil {
		if d, ok := limit.Default.(float64); ok {
			def = int(d)
		}
	}
	return r, def
}
