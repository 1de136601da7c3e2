package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/mxroute/mxroute/internal/apigen"
	"github.com/mxroute/mxroute/internal/check"
	"github.com/mxroute/mxroute/internal/feedback"
	"github.com/mxroute/mxroute/internal/routing"
)

// The typed errors handlers and middleware return. Each becomes one
// problem response in problemFor, the only place that chooses a status.

// ParamError is a query, path or body parameter that breaks the contract.
type ParamError struct {
	// Name is the parameter as the contract spells it, e.g. "max_attempts".
	Name string
	// Reason says what is wrong with it.
	Reason string
}

func (e *ParamError) Error() string { return e.Name + ": " + e.Reason }

// BodyError is a request body that is not the single, strictly formed JSON
// value the contract describes.
type BodyError struct{ Reason string }

func (e *BodyError) Error() string { return "body: " + e.Reason }

// ReportsError lists the invalid reports of a feedback batch, which is
// then rejected whole.
type ReportsError struct {
	Invalid []apigen.InvalidParam
	// Total is the number of reports in the batch.
	Total int
}

func (e *ReportsError) Error() string {
	return fmt.Sprintf("%s of %d reports invalid", countBad(len(e.Invalid)), e.Total)
}

// ForbiddenError is a valid token whose role may not do what it asked.
type ForbiddenError struct{ Detail string }

func (e *ForbiddenError) Error() string { return "forbidden: " + e.Detail }

// StoreError is a health-store call that failed. Its cause (which may name
// a Redis address) is logged by the feedback service, never sent.
type StoreError struct {
	Op  string
	Err error
}

func (e *StoreError) Error() string { return e.Op + ": " + e.Err.Error() }
func (e *StoreError) Unwrap() error { return e.Err }

// LimitError is a request turned away to protect what the fleet shares;
// RetryAfter is whole seconds.
type LimitError struct {
	Detail     string
	RetryAfter int
}

func (e *LimitError) Error() string { return "limited: " + e.Detail }

// problemFor turns an error into the problem response the contract
// declares for it. It is the single error-to-status mapping of the HTTP
// surface: handlers return typed errors (or the services' own), the
// strict server's error hooks and the middleware call this.
func problemFor(err error) apigen.Problem {
	var (
		param    *ParamError
		domain   *routing.DomainError
		body     *BodyError
		reports  *ReportsError
		field    *feedback.FieldError
		forbid   *ForbiddenError
		store    *StoreError
		limit    *LimitError
		drains   *feedback.DrainLimitError
		overload *feedback.OverloadedError
		tooLarge *http.MaxBytesError
		jsonType *json.UnmarshalTypeError
		format   *apigen.InvalidParamFormatError
		required *apigen.RequiredParamError
		tooMany  *apigen.TooManyValuesForParamError
		escape   url.EscapeError
	)
	switch {
	case errors.As(err, &param):
		return invalidParam(param.Name, param.Reason)
	case errors.As(err, &domain):
		return invalidParam("domain", domain.Reason)
	case errors.Is(err, check.ErrInvalidDomain):
		return invalidParam("domain", "cannot be checked")
	case errors.As(err, &reports):
		return problem(http.StatusBadRequest, "invalid-reports", "Invalid reports",
			reports.Error()+"; nothing was applied", reports.Invalid...)
	case errors.As(err, &field):
		return problem(http.StatusBadRequest, "invalid-reports", "Invalid reports", field.Error(),
			apigen.InvalidParam{Name: field.Field, Reason: field.Reason})
	case errors.As(err, &body):
		return problem(http.StatusBadRequest, "invalid-body", "Invalid JSON body", body.Reason)
	case errors.As(err, &jsonType):
		return problem(http.StatusBadRequest, "invalid-body", "Invalid JSON body",
			fmt.Sprintf("%s: a JSON %s where the contract wants %s", jsonType.Field, jsonType.Value, jsonType.Type))
	case errors.As(err, &tooLarge):
		return problem(http.StatusRequestEntityTooLarge, "too-large", "Request body too large",
			fmt.Sprintf("the body exceeds %d bytes", tooLarge.Limit))
	case errors.Is(err, os.ErrDeadlineExceeded):
		// A body that did not arrive within the server's read timeout.
		// The cause names the connection's socket addresses: not sent.
		return problem(http.StatusRequestTimeout, "request-timeout", "Request timeout",
			"the request body did not arrive in time")
	case errors.As(err, &escape):
		return problem(http.StatusBadRequest, "invalid-query", "Invalid query string",
			fmt.Sprintf("bad percent-escape %q in the query string", string(escape)))
	case errors.As(err, &format):
		reason := "must be given once"
		if errors.As(format.Err, new(*strconv.NumError)) {
			reason = "must be an integer"
		}
		return invalidParam(format.ParamName, reason)
	case errors.As(err, &required):
		return invalidParam(required.ParamName, "is required")
	case errors.As(err, &tooMany):
		return invalidParam(tooMany.ParamName, "must be given once")
	case errors.As(err, &forbid):
		return problem(http.StatusForbidden, "forbidden", "Forbidden", forbid.Detail)
	case errors.As(err, &limit):
		return problem(http.StatusTooManyRequests, "rate-limited", "Too many requests", limit.Detail)
	case errors.As(err, &drains):
		return problem(http.StatusConflict, "drain-limit", "Drain limit reached", drains.Error())
	case errors.As(err, &overload):
		return problem(http.StatusServiceUnavailable, "overloaded", "Feedback overloaded",
			"reports arrive faster than the health store takes them; nothing was applied, retry this batch after Retry-After")
	case errors.As(err, &store):
		return problem(http.StatusServiceUnavailable, "unavailable", "Health store unavailable",
			store.Op+" did not complete; retry later")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return problem(http.StatusServiceUnavailable, "unavailable", "Service unavailable",
			"the request was cut short; retry later")
	default:
		return problem(http.StatusInternalServerError, "internal", "Internal error", "")
	}
}

// writeError writes err's problem, with Retry-After where it has one.
func writeError(w http.ResponseWriter, err error) {
	var (
		limit    *LimitError
		overload *feedback.OverloadedError
	)
	switch {
	case errors.As(err, &limit):
		w.Header().Set("Retry-After", retryAfter(limit.RetryAfter))
	case errors.As(err, &overload):
		w.Header().Set("Retry-After", retryAfter(int(overload.RetryAfter/time.Second)))
	}
	writeProblem(w, problemFor(err))
}

// requestError is the strict server's hook for a request it could not
// bind (a query parameter of the wrong type, a body of the wrong shape).
// Everything that reaches it is the client's doing, so an error the
// mapping does not know (a field type's own UnmarshalJSON error, such as
// time.Time's for a date that is not RFC 3339) is a 400, never a 500.
func requestError(w http.ResponseWriter, r *http.Request, err error) {
	var date *time.ParseError
	switch p := problemFor(err); {
	case errors.As(err, &date):
		writeProblem(w, problem(http.StatusBadRequest, "invalid-body", "Invalid JSON body",
			fmt.Sprintf("%q is not an RFC 3339 date-time", date.Value)))
	case p.Status >= http.StatusInternalServerError && p.Type == problemBase+"internal":
		writeProblem(w, problem(http.StatusBadRequest, "invalid-body", "Invalid JSON body",
			"a value does not have the type the contract declares for its field"))
	default:
		writeError(w, err)
	}
}

// responseError is the strict server's hook for an error a handler
// returned: the typed errors above, or a service's.
func responseError(w http.ResponseWriter, r *http.Request, err error) {
	writeError(w, err)
}
