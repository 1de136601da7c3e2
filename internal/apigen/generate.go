// Package apigen holds only code generated from api/openapi.yaml: models,
// the chi router and the strict server interface the handlers implement
// (by oapi-codegen), and a copy of the spec itself, served at
// GET /openapi.yaml. Regenerate with `go generate ./...`; never edit the
// generated files by hand.
package apigen

import _ "embed"

//go:generate go tool oapi-codegen -config cfg.yaml ../../api/openapi.yaml
//go:generate cp ../../api/openapi.yaml openapi.yaml

// SpecYAML is api/openapi.yaml as it was when this package was generated.
//
//go:embed openapi.yaml
var SpecYAML []byte
