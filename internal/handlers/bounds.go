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
	// Report bounds the fields of one feedback report.
	Report ReportBounds
	// Reporter is the longest reporter name in bytes: the
	// X-Mxroute-Reporter header's, and a token's name in the tokens file
	// (auth.Load is given it), so that both kinds of name fit the same
	// stores and logs.
	Reporter int
}

// ReportBounds are the contract's limits on a Report's fields. Lengths
// are in bytes of UTF-8, which the spec's descriptions say: maxLength
// counts characters, so a name within it can still be too long here, but
// never the other way round.
type ReportBounds struct {
	// Name is the longest host and domain, a DNS name's 255 octets.
	Name int
	// RouteID is the longest route_id.
	RouteID int
	// SMTPCode is the range of a reply code, when there is one.
	SMTPCode IntRange
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
	maxLen := func(what string, s *openapi3.Schema) int {
		if s == nil || s.MaxLength == nil {
			errs = append(errs, fmt.Errorf("contract: %s: no maxLength", what))
			return 0
		}
		return int(*s.MaxLength)
	}
	b.DrainReason = maxLen("DrainRequest.reason", prop("DrainRequest", "reason"))
	b.Report = ReportBounds{
		Name:     maxLen("Report.host", prop("Report", "host")),
		RouteID:  maxLen("Report.route_id", prop("Report", "route_id")),
		SMTPCode: rng("Report.smtp_code", prop("Report", "smtp_code"), false),
	}
	if domain := maxLen("Report.domain", prop("Report", "domain")); domain != b.Report.Name {
		errs = append(errs, fmt.Errorf("contract: Report.domain's maxLength %d is not host's %d", domain, b.Report.Name))
	}
	b.Reporter = maxLen("X-Mxroute-Reporter", reporterParam(spec))
	return b, errors.Join(errs...)
})

// reporterParam is the schema of the X-Mxroute-Reporter header.
func reporterParam(spec *openapi3.T) *openapi3.Schema {
	if p := spec.Components.Parameters["Reporter"]; p != nil && p.Value != nil && p.Value.Schema != nil {
		return p.Value.Schema.Value
	}
	return nil
}

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
