package charttest

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/releaseutil"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// serviceMonitor mirrors the part of the Prometheus Operator's ServiceMonitor
// that the chart renders. Importing the operator's API module would add
// dozens of modules for one type; a local struct decoded strictly still
// catches a misspelt or misplaced field in what the chart emits.
type serviceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector          metav1.LabelSelector `json:"selector"`
		NamespaceSelector struct {
			MatchNames []string `json:"matchNames"`
		} `json:"namespaceSelector"`
		Endpoints []struct {
			Port          string `json:"port"`
			Path          string `json:"path"`
			Scheme        string `json:"scheme"`
			Interval      string `json:"interval,omitempty"`
			ScrapeTimeout string `json:"scrapeTimeout,omitempty"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// prometheusRule mirrors the Prometheus Operator's PrometheusRule as far as
// the chart renders it, decoded strictly for the same reason.
type prometheusRule struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []struct {
				Alert       string            `json:"alert"`
				Expr        string            `json:"expr"`
				For         string            `json:"for,omitempty"`
				Labels      map[string]string `json:"labels,omitempty"`
				Annotations map[string]string `json:"annotations,omitempty"`
			} `json:"rules"`
		} `json:"groups"`
	} `json:"spec"`
}

// manifests is one render of the chart, decoded. Maps are keyed by
// metadata.name.
type manifests struct {
	deployments     map[string]*appsv1.Deployment
	services        map[string]*corev1.Service
	configMaps      map[string]*corev1.ConfigMap
	secrets         map[string]*corev1.Secret
	serviceAccounts map[string]*corev1.ServiceAccount
	hpas            map[string]*autoscalingv2.HorizontalPodAutoscaler
	pdbs            map[string]*policyv1.PodDisruptionBudget
	serviceMonitors map[string]*serviceMonitor
	prometheusRules map[string]*prometheusRule
	// objects lists every decoded object's metadata, for checks that apply
	// to all kinds (labels, namespace).
	objects []metav1.Object
	// notes is the rendered NOTES.txt, which Helm prints after install and
	// never applies.
	notes string
}

// releaseName and releaseNamespace are the release the tests render.
const (
	releaseName      = "mx"
	releaseNamespace = "mail"
)

// render loads the chart at dir, merges vals over its defaults as `helm
// template -f` would, renders it with undefined-value checks on and decodes
// the result.
func render(dir string, vals map[string]any) (*manifests, error) {
	chrt, err := loader.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("load chart %s: %w", dir, err)
	}
	opts := chartutil.ReleaseOptions{Name: releaseName, Namespace: releaseNamespace, Revision: 1, IsInstall: true}
	top, err := chartutil.ToRenderValues(chrt, vals, opts, nil)
	if err != nil {
		return nil, fmt.Errorf("compose values: %w", err)
	}
	out, err := engine.Engine{Strict: true}.Render(chrt, top)
	if err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	m := &manifests{
		deployments:     map[string]*appsv1.Deployment{},
		services:        map[string]*corev1.Service{},
		configMaps:      map[string]*corev1.ConfigMap{},
		secrets:         map[string]*corev1.Secret{},
		serviceAccounts: map[string]*corev1.ServiceAccount{},
		hpas:            map[string]*autoscalingv2.HorizontalPodAutoscaler{},
		pdbs:            map[string]*policyv1.PodDisruptionBudget{},
		serviceMonitors: map[string]*serviceMonitor{},
		prometheusRules: map[string]*prometheusRule{},
	}
	// Sorted so that errors name templates in a stable order.
	for _, path := range slices.Sorted(maps.Keys(out)) {
		if strings.HasSuffix(path, "NOTES.txt") {
			m.notes = out[path]
			continue
		}
		if !strings.HasSuffix(path, ".yaml") {
			continue // _helpers.tpl renders to nothing useful
		}
		docs := releaseutil.SplitManifests(out[path])
		keys := slices.Collect(maps.Keys(docs))
		sort.Sort(releaseutil.BySplitManifestsOrder(keys))
		for _, key := range keys {
			if err := m.add(docs[key]); err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
		}
	}
	return m, nil
}

// add decodes one YAML document into the type its kind names. An unknown
// kind is an error, so a new template cannot slip past the checks.
func (m *manifests) add(doc string) error {
	if strings.TrimSpace(doc) == "" {
		return nil
	}
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
		return fmt.Errorf("read kind: %w", err)
	}
	gvk := tm.APIVersion + "/" + tm.Kind
	var (
		obj metav1.Object
		err error
	)
	switch gvk {
	case "apps/v1/Deployment":
		obj, err = decodeInto(doc, m.deployments)
	case "v1/Service":
		obj, err = decodeInto(doc, m.services)
	case "v1/ConfigMap":
		obj, err = decodeInto(doc, m.configMaps)
	case "v1/Secret":
		obj, err = decodeInto(doc, m.secrets)
	case "v1/ServiceAccount":
		obj, err = decodeInto(doc, m.serviceAccounts)
	case "autoscaling/v2/HorizontalPodAutoscaler":
		obj, err = decodeInto(doc, m.hpas)
	case "policy/v1/PodDisruptionBudget":
		obj, err = decodeInto(doc, m.pdbs)
	case "monitoring.coreos.com/v1/ServiceMonitor":
		obj, err = decodeInto(doc, m.serviceMonitors)
	case "monitoring.coreos.com/v1/PrometheusRule":
		obj, err = decodeInto(doc, m.prometheusRules)
	default:
		return fmt.Errorf("unexpected apiVersion/kind %q: add it to the decoder", gvk)
	}
	if err != nil {
		return fmt.Errorf("decode %s: %w", gvk, err)
	}
	m.objects = append(m.objects, obj)
	return nil
}

// decodeInto strictly decodes doc into a new T and files it under its name,
// refusing a second object of the same kind and name (which would make one
// of them silently win on apply).
func decodeInto[T any, PT interface {
	*T
	metav1.Object
}](doc string, into map[string]PT) (metav1.Object, error) {
	obj := PT(new(T))
	if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
		return nil, err
	}
	name := obj.GetName()
	if name == "" {
		return nil, errors.New("metadata.name is empty")
	}
	if _, dup := into[name]; dup {
		return nil, fmt.Errorf("duplicate name %q", name)
	}
	into[name] = obj
	return obj, nil
}
