package handlers

// The operational paths, outside the contract's business endpoints. The
// router, authentication and telemetry all ask these functions, so the
// list is written once.
const (
	pathHealthz = "/healthz"
	pathReadyz  = "/readyz"
	pathMetrics = "/metrics"
	pathSpec    = "/openapi.yaml"
)

// Unobserved reports the paths telemetry leaves out: liveness, readiness
// and the metrics scrape. At one probe every few seconds per pod they
// would outnumber real traffic in a quiet fleet's traces.
func Unobserved(path string) bool {
	switch path {
	case pathHealthz, pathReadyz, pathMetrics:
		return true
	}
	return false
}

// public reports the paths that never need a token: probes and scrapers
// carry none, and the contract is no secret.
func public(path string) bool {
	return Unobserved(path) || path == pathSpec
}
