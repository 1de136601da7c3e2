package handlers

import (
	"encoding/json"
	"fmt"
	"net/http"

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

// writeProblem writes p as application/problem+json. Handlers do not call
// it: they return errors, which writeError maps through problemFor.
func writeProblem(w http.ResponseWriter, p apigen.Problem) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}
