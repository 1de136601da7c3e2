package apigen

import (
	"bytes"
	"os"
	"testing"
)

// TestGeneratedFromCurrentSpec fails when api/openapi.yaml changed without
// `go generate ./...`: the served spec and the generated code would then
// disagree with the contract.
func TestGeneratedFromCurrentSpec(t *testing.T) {
	src, err := os.ReadFile("../../api/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(src, SpecYAML) {
		t.Fatal("internal/apigen/openapi.yaml differs from api/openapi.yaml: run `go generate ./...`")
	}
	spec, err := GetSpec()
	if err != nil {
		t.Fatalf("embedded spec does not load: %v", err)
	}
	if err := spec.Validate(t.Context()); err != nil {
		t.Fatalf("embedded spec is invalid: %v", err)
	}
}
