// Package charttest renders the mxroute Helm chart in process and checks the
// manifests it produces, without a Kubernetes cluster.
//
// It renders with Helm's own engine (chart/loader, chartutil.ToRenderValues,
// engine.Engine in strict mode, so a template that reads an undefined value
// fails), then decodes every manifest with sigs.k8s.io/yaml's UnmarshalStrict
// into the k8s.io/api type for its kind. Strict decoding is what a cluster
// would do with a typo'd or misplaced field, short of a real API server: it
// catches unknown fields and wrong types, but not semantic validation such as
// label syntax or immutable-field rules, which `kubectl --dry-run=server`
// against a live cluster would add.
//
// The package lives in its own module because Helm and the Kubernetes API
// types pull in about 230 modules that the service itself never needs.
package charttest
