package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/mxroute/mxroute/internal/apigen"
)

// problemBase prefixes the type URIs of our problems. They are identifiers
// (RFC 9457 3.1.1), documented in the README, not pages that must resolve.
const problemBase = "https://mxroute.dev/problems/"

// problem builds an RFC 9457 body.
func problem(status int, kind, title, detail string, params ...apigen.InvalidParam) apigen.Problem {
	p := apigen.Problem{Type: problemBase + kind, Title: title, Status: status}
	if detail != "" {
		p.Detail = &detail
	}
	if len(params) > 0 {
		p.InvalidParams = &params
	}
	return p
}

func invalidParam(name, reason string) apigen.Problem {
	return problem(http.StatusBadRequest, "invalid-parameter", "Invalid parameter",
		fmt.Sprintf("%s: %s", name, reason), apigen.InvalidParam{Name: name, Reason: reason})
}

// writeProblem writes p as application/problem+json. Used outside the
// strict handlers: middleware and request decoding errors.
func writeProblem(w http.ResponseWriter, p apigen.Problem) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// requestError turns a failure to bind the request (a query parameter of
// the wrong type, a body that is not JSON or too large) into a 4xx problem
// that names the culprit.
func requestError(w http.ResponseWriter, r *http.Request, err error) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		writeProblem(w, problem(http.StatusRequestEntityTooLarge, "too-large", "Request body too large",
			fmt.Sprintf("the body exceeds %d bytes", mbe.Limit)))
		return
	}
	var fmtErr *apigen.InvalidParamFormatError
	if errors.As(err, &fmtErr) {
		reason := "invalid value"
		var num *strconv.NumError
		switch {
		case errors.As(fmtErr.Err, &num):
			reason = "must be an integer"
		case len(r.URL.Query()[fmtErr.ParamName]) > 1:
			reason = "must be given once"
		}
		writeProblem(w, invalidParam(fmtErr.ParamName, reason))
		return
	}
	var req *apigen.RequiredParamError
	if errors.As(err, &req) {
		writeProblem(w, invalidParam(req.ParamName, "is required"))
		return
	}
	var tooMany *apigen.TooManyValuesForParamError
	if errors.As(err, &tooMany) {
		writeProblem(w, invalidParam(tooMany.ParamName, "must be given once"))
		return
	}
	msg := err.Error()
	if strings.HasPrefix(msg, "can't decode JSON body") {
		writeProblem(w, problem(http.StatusBadRequest, "invalid-body", "Invalid JSON body", msg))
		return
	}
	writeProblem(w, problem(http.StatusBadRequest, "invalid-request", "Invalid request", msg))
}

// responseError is reached only when a handler returns an error, which
// ours do only for faults they cannot express in the contract.
func responseError(w http.ResponseWriter, r *http.Request, err error) {
	writeProblem(w, problem(http.StatusInternalServerError, "internal", "Internal error", ""))
}
