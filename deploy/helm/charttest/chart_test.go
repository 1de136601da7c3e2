package charttest

import (
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chartutil"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// chartDir is the chart under test, relative to this package.
const chartDir = "../mxroute"

// Names the chart derives from releaseName.
const (
	fullname      = releaseName + "-mxroute"
	zonesConfig   = fullname + "-zones"
	zonesDir      = "/etc/mxroute/zones"
	authDir       = "/etc/mxroute/auth"
	nonrootUID    = 65532
	containerPort = 8080
)

// knownSettings are the variables the service reads (the settings table of
// cmd/mxroute/config.go) plus the standard OpenTelemetry ones the chart sets.
// A key in the settings ConfigMap outside this set is a typo the binary would
// ignore.
var knownSettings = []string{
	"MXROUTE_LISTEN", "MXROUTE_DNS_SERVERS", "MXROUTE_ZONE_FILES", "MXROUTE_SPOOL_DIR",
	"MXROUTE_DNS_TIMEOUT", "MXROUTE_DNS_BUDGET", "MXROUTE_CACHE_MEMORY",
	"MXROUTE_CACHE_MIN_TTL", "MXROUTE_CACHE_MAX_TTL", "MXROUTE_CACHE_STALE_FOR",
	"MXROUTE_MAX_ATTEMPTS", "MXROUTE_ADDRESS_ORDER", "MXROUTE_ALLOW_MX_TO_IP",
	"MXROUTE_IGNORE_NETWORKS", "MXROUTE_BLOCK_PRIVATE", "MXROUTE_LOCAL_NAMES",
	"MXROUTE_LOCAL_ADDRESSES",
	"MXROUTE_REDIS_URL", "MXROUTE_REDIS_SENTINEL_ADDRS", "MXROUTE_REDIS_SENTINEL_MASTER",
	"MXROUTE_REDIS_CLUSTER_ADDRS", "MXROUTE_REDIS_PASSWORD",
	"MXROUTE_AUTH_TOKENS_FILE", "MXROUTE_FEEDBACK_RATE", "MXROUTE_FEEDBACK_BUFFER",
	"MXROUTE_HEALTH_VOTE_FAILURES", "MXROUTE_HEALTH_VOTE_TTL", "MXROUTE_HEALTH_QUORUM",
	"MXROUTE_HEALTH_VETO", "MXROUTE_HEALTH_BASE_DEMOTION", "MXROUTE_HEALTH_MAX_DEMOTION",
	"MXROUTE_HEALTH_RECOVERY_REPORTERS", "MXROUTE_HEALTH_BUDGET_MIN", "MXROUTE_HEALTH_BUDGET_FRACTION",
	"MXROUTE_SHUTDOWN_GRACE", "MXROUTE_LOG_LEVEL",
	"OTEL_SERVICE_NAME", "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT",
	"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG",
	"OTEL_METRICS_EXPORTER", "OTEL_RESOURCE_ATTRIBUTES",
}

// redisSettings are the variables that only a Redis mode may set.
var redisSettings = []string{
	"MXROUTE_REDIS_URL", "MXROUTE_REDIS_SENTINEL_ADDRS", "MXROUTE_REDIS_SENTINEL_MASTER",
	"MXROUTE_REDIS_CLUSTER_ADDRS", "MXROUTE_REDIS_PASSWORD",
}

// envRef matches a Kubernetes $(NAME) variable reference.
var envRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// secretRef names a key of a Secret, as an env var or volume refers to it.
type secretRef struct{ name, key string }

// chartCase is one set of values and what its render must contain beyond
// the invariants every render satisfies.
type chartCase struct {
	name string
	// valuesFile is a file under the chart's ci/ directory; empty renders
	// the defaults.
	valuesFile string
	// set is merged over valuesFile, like --set.
	set map[string]any
	// env holds variables that must reach the container with these values.
	env map[string]string
	// secretEnv holds variables that must come from these Secret keys.
	secretEnv map[string]secretRef
	// absent lists variables that must not be set at all.
	absent []string
	// external lists the Secrets the values reference but the chart must not
	// create; any other referenced Secret must be rendered by the chart.
	external []string
	// secretData is what the chart-created Secret must hold (decoded).
	secretData map[string]string
	// zoneFiles are the file names expected under /etc/mxroute/zones.
	zoneFiles []string
	// authTokens is the Secret the tokens file is mounted from, if any.
	authTokens *secretRef
	hpa        bool
	pdb        bool
	monitor    bool
	startup    bool
	// grace is the expected terminationGracePeriodSeconds.
	grace int64
}

func TestChartRenders(t *testing.T) {
	cases := []chartCase{
		{
			name: "defaults",
			env: map[string]string{
				"MXROUTE_LISTEN": ":8080", "MXROUTE_LOG_LEVEL": "info", "MXROUTE_SHUTDOWN_GRACE": "20s",
				"MXROUTE_ZONE_FILES": "none", "OTEL_SERVICE_NAME": "mxroute", "OTEL_TRACES_EXPORTER": "none",
			},
			absent: append([]string{"MXROUTE_AUTH_TOKENS_FILE", "MXROUTE_DNS_SERVERS", "MXROUTE_BLOCK_PRIVATE", "MXROUTE_ALLOW_MX_TO_IP"}, redisSettings...),
			grace:  30,
		},
		{
			name:       "standalone",
			valuesFile: "standalone-values.yaml",
			env: map[string]string{
				"MXROUTE_REDIS_URL":     "redis://redis-master.data.svc:6379/0",
				"MXROUTE_DNS_SERVERS":   "10.0.0.53:53,10.0.1.53:53",
				"MXROUTE_ADDRESS_ORDER": "presented",
				"MXROUTE_BLOCK_PRIVATE": "true",
			},
			secretEnv: map[string]secretRef{"MXROUTE_REDIS_PASSWORD": {"redis-credentials", "password"}},
			absent:    []string{"MXROUTE_REDIS_SENTINEL_ADDRS", "MXROUTE_REDIS_SENTINEL_MASTER", "MXROUTE_REDIS_CLUSTER_ADDRS", "MXROUTE_ALLOW_MX_TO_IP"},
			external:  []string{"redis-credentials"},
			grace:     30,
		},
		{
			name:       "standalone URL from a Secret",
			valuesFile: "standalone-url-secret-values.yaml",
			secretEnv:  map[string]secretRef{"MXROUTE_REDIS_URL": {"redis-url", "url"}},
			absent:     []string{"MXROUTE_REDIS_PASSWORD", "MXROUTE_REDIS_SENTINEL_ADDRS", "MXROUTE_REDIS_CLUSTER_ADDRS"},
			external:   []string{"redis-url"},
			grace:      30,
		},
		{
			name:       "sentinel",
			valuesFile: "sentinel-values.yaml",
			env: map[string]string{
				"MXROUTE_REDIS_SENTINEL_ADDRS":  "redis-sentinel-0.redis-sentinel.data.svc:26379,redis-sentinel-1.redis-sentinel.data.svc:26379,redis-sentinel-2.redis-sentinel.data.svc:26379",
				"MXROUTE_REDIS_SENTINEL_MASTER": "mymaster",
			},
			secretEnv:  map[string]secretRef{"MXROUTE_REDIS_PASSWORD": {fullname, "redis-password"}},
			secretData: map[string]string{"redis-password": "dev-only-password"},
			absent:     []string{"MXROUTE_REDIS_URL", "MXROUTE_REDIS_CLUSTER_ADDRS"},
			grace:      30,
		},
		{
			name:       "cluster",
			valuesFile: "cluster-values.yaml",
			env: map[string]string{
				"MXROUTE_REDIS_CLUSTER_ADDRS": "redis-cluster-0.redis-cluster.data.svc:6379,redis-cluster-1.redis-cluster.data.svc:6379,redis-cluster-2.redis-cluster.data.svc:6379",
			},
			secretEnv: map[string]secretRef{"MXROUTE_REDIS_PASSWORD": {"redis-cluster", "redis-password"}},
			absent:    []string{"MXROUTE_REDIS_URL", "MXROUTE_REDIS_SENTINEL_ADDRS", "MXROUTE_REDIS_SENTINEL_MASTER"},
			external:  []string{"redis-cluster"},
			grace:     30,
		},
		{
			name:       "full",
			valuesFile: "full-values.yaml",
			env: map[string]string{
				"MXROUTE_ZONE_FILES":          "demo," + zonesDir + "/internal.zone," + zonesDir + "/lab.zone",
				"MXROUTE_MAX_ATTEMPTS":        "6",
				"MXROUTE_DNS_TIMEOUT":         "2s",
				"MXROUTE_AUTH_TOKENS_FILE":    authDir + "/tokens",
				"MXROUTE_REDIS_CLUSTER_ADDRS": "redis-cluster.data.svc:6379",
				"MXROUTE_SHUTDOWN_GRACE":      "25s",
				"MXROUTE_ALLOW_MX_TO_IP":      "false",
				"MXROUTE_IGNORE_NETWORKS":     "192.0.2.0/24,2001:db8::/32",
				"OTEL_TRACES_SAMPLER_ARG":     "0.05",
				"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector.observability.svc:4318",
				"TZ":                          "UTC",
				"OTEL_RESOURCE_ATTRIBUTES":    "k8s.pod.name=$(K8S_POD_NAME),k8s.namespace.name=$(K8S_NAMESPACE_NAME),k8s.node.name=$(K8S_NODE_NAME),deployment.environment=production",
			},
			secretEnv:  map[string]secretRef{"MXROUTE_REDIS_PASSWORD": {"redis-cluster", "redis-password"}},
			external:   []string{"redis-cluster", "mxroute-reporters"},
			zoneFiles:  []string{"internal.zone", "lab.zone"},
			authTokens: &secretRef{"mxroute-reporters", "tokens"},
			hpa:        true,
			pdb:        true,
			monitor:    true,
			startup:    true,
			grace:      45,
		},
		{
			name:  "spool",
			set:   map[string]any{"spool": map[string]any{"enabled": true}},
			env:   map[string]string{"MXROUTE_SPOOL_DIR": "/var/spool/mxroute"},
			grace: 30,
		},
		{
			name: "inline tokens and a PDB alone",
			set: map[string]any{
				"auth":                map[string]any{"tokens": "s3cret postfix-a sender\n"},
				"podDisruptionBudget": map[string]any{"enabled": true},
				"preStopSleepSeconds": 0,
			},
			env:        map[string]string{"MXROUTE_AUTH_TOKENS_FILE": authDir + "/tokens"},
			secretData: map[string]string{"tokens": "s3cret postfix-a sender\n"},
			authTokens: &secretRef{fullname, "tokens"},
			pdb:        true,
			grace:      25,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := render(chartDir, caseValues(t, tc))
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			checkInvariants(t, m, tc)
			checkCase(t, m, tc)
		})
	}
}

// caseValues reads the case's ci file, if any, and merges its overrides.
func caseValues(t *testing.T, tc chartCase) map[string]any {
	t.Helper()
	vals := map[string]any{}
	if tc.valuesFile != "" {
		v, err := chartutil.ReadValuesFile(filepath.Join(chartDir, "ci", tc.valuesFile))
		if err != nil {
			t.Fatalf("read values: %v", err)
		}
		vals = v
	}
	return mergeValues(vals, tc.set)
}

// mergeValues returns dst with src merged over it, maps recursively, the way
// Helm layers -f files and --set.
func mergeValues(dst, src map[string]any) map[string]any {
	out := maps.Clone(dst)
	for k, v := range src {
		sub, ok := v.(map[string]any)
		if prev, isMap := out[k].(map[string]any); ok && isMap {
			out[k] = mergeValues(prev, sub)
			continue
		}
		out[k] = v
	}
	return out
}

// containerEnv is the environment the container starts with: the settings
// ConfigMap through envFrom, then the env list.
type containerEnv struct {
	values  map[string]string
	secrets map[string]secretRef
	// names lists every variable, from either source.
	names map[string]bool
}

func podEnv(t *testing.T, m *manifests, c corev1.Container) containerEnv {
	t.Helper()
	e := containerEnv{values: map[string]string{}, secrets: map[string]secretRef{}, names: map[string]bool{}}
	for _, from := range c.EnvFrom {
		if from.ConfigMapRef == nil {
			t.Fatalf("envFrom %+v: only ConfigMaps expected", from)
		}
		cm, ok := m.configMaps[from.ConfigMapRef.Name]
		if !ok {
			t.Fatalf("envFrom names ConfigMap %q, which the chart does not render", from.ConfigMapRef.Name)
		}
		for k, v := range cm.Data {
			e.values[k] = v
			e.names[k] = true
		}
	}
	for _, ev := range c.Env {
		e.names[ev.Name] = true
		switch {
		case ev.ValueFrom == nil:
			e.values[ev.Name] = ev.Value
		case ev.ValueFrom.SecretKeyRef != nil:
			e.secrets[ev.Name] = secretRef{ev.ValueFrom.SecretKeyRef.Name, ev.ValueFrom.SecretKeyRef.Key}
		}
	}
	return e
}

// checkInvariants holds for every render, whatever the values.
func checkInvariants(t *testing.T, m *manifests, tc chartCase) {
	t.Helper()
	if len(m.deployments) != 1 || len(m.services) != 1 || len(m.serviceAccounts) != 1 {
		t.Fatalf("got %d deployments, %d services, %d service accounts, want 1 each",
			len(m.deployments), len(m.services), len(m.serviceAccounts))
	}
	d := m.deployments[fullname]
	if d == nil {
		t.Fatalf("no Deployment named %q", fullname)
	}
	pod := d.Spec.Template.Spec
	podLabels := d.Spec.Template.Labels

	for _, obj := range m.objects {
		l := obj.GetLabels()
		if l["app.kubernetes.io/name"] != "mxroute" || l["app.kubernetes.io/instance"] != releaseName {
			t.Errorf("%s: labels %v lack name/instance", obj.GetName(), l)
		}
		if obj.GetNamespace() != releaseNamespace {
			t.Errorf("%s: namespace %q, want %q", obj.GetName(), obj.GetNamespace(), releaseNamespace)
		}
	}

	// Enough replicas, or an HPA that keeps enough.
	if hpa := m.hpas[fullname]; hpa != nil {
		if d.Spec.Replicas != nil {
			t.Errorf("replicas = %d with an HPA, want unset so the HPA owns it", *d.Spec.Replicas)
		}
		if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas < 2 {
			t.Errorf("HPA minReplicas = %v, want >= 2", hpa.Spec.MinReplicas)
		}
		if ref := hpa.Spec.ScaleTargetRef; ref.Kind != "Deployment" || ref.Name != fullname || ref.APIVersion != "apps/v1" {
			t.Errorf("HPA targets %+v, want the Deployment", ref)
		}
	} else if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
		t.Errorf("replicas = %v, want >= 2", d.Spec.Replicas)
	}
	if !selects(d.Spec.Selector.MatchLabels, podLabels) {
		t.Errorf("Deployment selector %v does not match pod labels %v", d.Spec.Selector.MatchLabels, podLabels)
	}

	// Pod security.
	psc := pod.SecurityContext
	if psc == nil || !isTrue(psc.RunAsNonRoot) || psc.RunAsUser == nil || *psc.RunAsUser != nonrootUID ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext = %+v, want non-root %d with RuntimeDefault seccomp", psc, nonrootUID)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Errorf("automountServiceAccountToken = %v, want false", pod.AutomountServiceAccountToken)
	}
	if pod.EnableServiceLinks == nil || *pod.EnableServiceLinks {
		t.Errorf("enableServiceLinks = %v, want false (service links inject MXROUTE_* variables)", pod.EnableServiceLinks)
	}
	if _, ok := m.serviceAccounts[pod.ServiceAccountName]; !ok {
		t.Errorf("pod runs as ServiceAccount %q, which the chart does not render", pod.ServiceAccountName)
	}

	if len(pod.Containers) != 1 {
		t.Fatalf("got %d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	sc := c.SecurityContext
	if sc == nil || !isTrue(sc.RunAsNonRoot) || !isTrue(sc.ReadOnlyRootFilesystem) ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) ||
		sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("container securityContext = %+v, want non-root, read-only root, no escalation, drop ALL, RuntimeDefault", sc)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources = %+v, want cpu and memory requests and a memory limit", c.Resources)
	}

	// Port, probes and Service all meet at the port named http.
	if len(c.Ports) != 1 || c.Ports[0].Name != "http" || c.Ports[0].ContainerPort != containerPort {
		t.Errorf("container ports = %+v, want http on %d", c.Ports, containerPort)
	}
	checkProbe(t, "liveness", c.LivenessProbe, "/healthz")
	checkProbe(t, "readiness", c.ReadinessProbe, "/readyz")
	svc := m.services[fullname]
	if svc == nil {
		t.Fatalf("no Service named %q", fullname)
	}
	if svc.Spec.Type != corev1.ServiceTypeClusterIP || len(svc.Spec.Ports) != 1 ||
		svc.Spec.Ports[0].Name != "http" || svc.Spec.Ports[0].Port != containerPort ||
		svc.Spec.Ports[0].TargetPort != intstr.FromString("http") {
		t.Errorf("Service spec = %+v, want ClusterIP http %d -> http", svc.Spec, containerPort)
	}
	if !selects(svc.Spec.Selector, podLabels) {
		t.Errorf("Service selector %v does not match pod labels %v", svc.Spec.Selector, podLabels)
	}

	// Spread over nodes, by constraint and by preferred anti-affinity.
	spread := false
	for _, tsc := range pod.TopologySpreadConstraints {
		if tsc.TopologyKey == "kubernetes.io/hostname" && tsc.LabelSelector != nil && selects(tsc.LabelSelector.MatchLabels, podLabels) {
			spread = true
		}
	}
	if !spread {
		t.Errorf("topologySpreadConstraints = %+v, want one on kubernetes.io/hostname selecting the pods", pod.TopologySpreadConstraints)
	}
	anti := false
	if a := pod.Affinity; a != nil && a.PodAntiAffinity != nil {
		for _, w := range a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
			term := w.PodAffinityTerm
			if term.TopologyKey == "kubernetes.io/hostname" && term.LabelSelector != nil && selects(term.LabelSelector.MatchLabels, podLabels) {
				anti = true
			}
		}
	}
	if !anti {
		t.Errorf("affinity = %+v, want preferred pod anti-affinity on kubernetes.io/hostname", pod.Affinity)
	}

	// Environment: known names only, and every reference resolvable.
	env := podEnv(t, m, c)
	for _, cm := range m.configMaps {
		if cm.Name == zonesConfig || cm.Labels["grafana_dashboard"] != "" {
			continue // zone files, Grafana dashboards
		}
		for k := range cm.Data {
			if !slices.Contains(knownSettings, k) {
				t.Errorf("ConfigMap %s sets %s, which is not a known setting", cm.Name, k)
			}
		}
	}
	// Kubernetes expands $(NAME) only for variables defined earlier, and
	// leaves the text as is otherwise, which would go unnoticed.
	defined := map[string]bool{}
	for _, from := range c.EnvFrom {
		if cm := m.configMaps[from.ConfigMapRef.Name]; cm != nil {
			for k := range cm.Data {
				defined[k] = true
			}
		}
	}
	for _, ev := range c.Env {
		for _, ref := range envRef.FindAllStringSubmatch(ev.Value, -1) {
			if !defined[ref[1]] {
				t.Errorf("%s refers to $(%s), which is not defined before it", ev.Name, ref[1])
			}
		}
		defined[ev.Name] = true
	}
	for name, ref := range env.secrets {
		checkSecretRef(t, m, tc, "env "+name, ref)
	}
	if env.values["MXROUTE_LISTEN"] != ":8080" {
		t.Errorf("MXROUTE_LISTEN = %q, want %q", env.values["MXROUTE_LISTEN"], ":8080")
	}
	for _, v := range pod.Volumes {
		switch {
		case v.ConfigMap != nil:
			if _, ok := m.configMaps[v.ConfigMap.Name]; !ok {
				t.Errorf("volume %s names ConfigMap %q, which the chart does not render", v.Name, v.ConfigMap.Name)
			}
		case v.Secret != nil:
			for _, item := range v.Secret.Items {
				checkSecretRef(t, m, tc, "volume "+v.Name, secretRef{v.Secret.SecretName, item.Key})
			}
		}
	}
	for _, vm := range c.VolumeMounts {
		if !slices.ContainsFunc(pod.Volumes, func(v corev1.Volume) bool { return v.Name == vm.Name }) {
			t.Errorf("volumeMount %s has no volume", vm.Name)
		}
	}

	// Shutdown: SIGKILL must not arrive before the preStop sleep and the
	// service's own drain are over.
	grace, err := time.ParseDuration(env.values["MXROUTE_SHUTDOWN_GRACE"])
	if err != nil {
		t.Fatalf("MXROUTE_SHUTDOWN_GRACE: %v", err)
	}
	var preStop time.Duration
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil {
		preStop = time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	}
	if pod.TerminationGracePeriodSeconds == nil || time.Duration(*pod.TerminationGracePeriodSeconds)*time.Second <= grace+preStop {
		t.Errorf("terminationGracePeriodSeconds = %v, want more than %v (preStop) + %v (shutdown grace)", pod.TerminationGracePeriodSeconds, preStop, grace)
	}

	// The pods must roll when the settings change.
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(d.Spec.Template.Annotations["checksum/config"]) {
		t.Errorf("pod annotations = %v, want a sha256 checksum/config", d.Spec.Template.Annotations)
	}

	for _, want := range []string{"port-forward service/" + fullname, "/route?domain="} {
		if !strings.Contains(m.notes, want) {
			t.Errorf("NOTES.txt lacks %q:\n%s", want, m.notes)
		}
	}
}

// checkCase compares a render with the case's expectations.
func checkCase(t *testing.T, m *manifests, tc chartCase) {
	t.Helper()
	d := m.deployments[fullname]
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]
	env := podEnv(t, m, c)

	for name, want := range tc.env {
		if got, ok := env.values[name]; !ok || got != want {
			t.Errorf("%s = %q (set: %v), want %q", name, got, ok, want)
		}
	}
	for name, want := range tc.secretEnv {
		if got := env.secrets[name]; got != want {
			t.Errorf("%s from Secret %+v, want %+v", name, got, want)
		}
	}
	for _, name := range tc.absent {
		if env.names[name] {
			t.Errorf("%s is set, want it absent", name)
		}
	}

	if got := *pod.TerminationGracePeriodSeconds; got != tc.grace {
		t.Errorf("terminationGracePeriodSeconds = %d, want %d", got, tc.grace)
	}
	if got := c.StartupProbe != nil; got != tc.startup {
		t.Errorf("startupProbe present = %v, want %v", got, tc.startup)
	}
	if tc.startup {
		checkProbe(t, "startup", c.StartupProbe, "/healthz")
	}
	if got := len(m.hpas) == 1; got != tc.hpa || len(m.hpas) > 1 {
		t.Errorf("got %d HPAs, want present = %v", len(m.hpas), tc.hpa)
	}
	if got := len(m.pdbs) == 1; got != tc.pdb || len(m.pdbs) > 1 {
		t.Errorf("got %d PDBs, want present = %v", len(m.pdbs), tc.pdb)
	}
	if pdb := m.pdbs[fullname]; pdb != nil {
		if !selects(pdb.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
			t.Errorf("PDB selector %v does not match pod labels", pdb.Spec.Selector.MatchLabels)
		}
		if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 || pdb.Spec.MinAvailable != nil {
			t.Errorf("PDB spec = %+v, want maxUnavailable 1 only", pdb.Spec)
		}
	}
	if got := len(m.serviceMonitors) == 1; got != tc.monitor || len(m.serviceMonitors) > 1 {
		t.Errorf("got %d ServiceMonitors, want present = %v", len(m.serviceMonitors), tc.monitor)
	}
	if sm := m.serviceMonitors[fullname]; sm != nil {
		if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "http" || sm.Spec.Endpoints[0].Path != "/metrics" {
			t.Errorf("ServiceMonitor endpoints = %+v, want http /metrics", sm.Spec.Endpoints)
		}
		if !selects(sm.Spec.Selector.MatchLabels, m.services[fullname].Labels) {
			t.Errorf("ServiceMonitor selector %v does not match the Service labels", sm.Spec.Selector.MatchLabels)
		}
	}

	if tc.authTokens != nil && !strings.Contains(m.notes, `-H "Authorization: Bearer $TOKEN"`) {
		t.Errorf("NOTES.txt does not show the bearer token on curl, though auth is on:\n%s", m.notes)
	}

	checkZones(t, m, tc, pod, c)
	checkAuth(t, tc, pod, c)

	// The chart creates a Secret exactly when values carry one inline.
	created := m.secrets[fullname]
	if got := created != nil; got != (tc.secretData != nil) || len(m.secrets) > 1 {
		t.Fatalf("got %d Secrets, want chart Secret = %v", len(m.secrets), tc.secretData != nil)
	}
	if created != nil {
		got := map[string]string{}
		for k, v := range created.Data {
			got[k] = string(v)
		}
		if !maps.Equal(got, tc.secretData) {
			t.Errorf("Secret data = %q, want %q", got, tc.secretData)
		}
	}
}

// checkZones checks the zone ConfigMap, its mount and MXROUTE_ZONE_FILES,
// including that the zone text arrives byte for byte (zone files give
// meaning to leading whitespace and tabs).
func checkZones(t *testing.T, m *manifests, tc chartCase, pod corev1.PodSpec, c corev1.Container) {
	t.Helper()
	cm := m.configMaps[zonesConfig]
	mounted := slices.ContainsFunc(c.VolumeMounts, func(vm corev1.VolumeMount) bool {
		return vm.MountPath == zonesDir && vm.ReadOnly
	})
	if len(tc.zoneFiles) == 0 {
		if cm != nil || mounted {
			t.Errorf("zones rendered (ConfigMap %v, mounted %v) with no zone files in values", cm != nil, mounted)
		}
		return
	}
	if cm == nil || !mounted {
		t.Fatalf("zone ConfigMap present = %v, mounted read-only at %s = %v; want both", cm != nil, zonesDir, mounted)
	}
	if got := slices.Sorted(maps.Keys(cm.Data)); !slices.Equal(got, tc.zoneFiles) {
		t.Errorf("zone files = %v, want %v", got, tc.zoneFiles)
	}
	vals := caseValues(t, tc)
	files := vals["zones"].(map[string]any)["files"].(map[string]any)
	for name, want := range files {
		if got := cm.Data[name]; got != want {
			t.Errorf("zone %s = %q, want %q", name, got, want)
		}
	}
	for _, v := range pod.Volumes {
		if v.ConfigMap != nil && v.ConfigMap.Name == zonesConfig {
			if v.ConfigMap.DefaultMode == nil || *v.ConfigMap.DefaultMode != 0o444 {
				t.Errorf("zone volume defaultMode = %v, want 0444", v.ConfigMap.DefaultMode)
			}
		}
	}
}

// checkAuth checks that the tokens file is mounted from the expected Secret
// where MXROUTE_AUTH_TOKENS_FILE points, readable by the pod's group only.
func checkAuth(t *testing.T, tc chartCase, pod corev1.PodSpec, c corev1.Container) {
	t.Helper()
	var vol *corev1.Volume
	for i, v := range pod.Volumes {
		if v.Name == "auth" {
			vol = &pod.Volumes[i]
		}
	}
	if tc.authTokens == nil {
		if vol != nil {
			t.Errorf("auth volume %+v rendered without auth configured", vol)
		}
		return
	}
	if vol == nil || vol.Secret == nil {
		t.Fatalf("no auth Secret volume, want one from %+v", *tc.authTokens)
	}
	s := vol.Secret
	if s.SecretName != tc.authTokens.name || len(s.Items) != 1 || s.Items[0].Key != tc.authTokens.key || s.Items[0].Path != "tokens" {
		t.Errorf("auth volume = %+v, want key %q of %q at tokens", s, tc.authTokens.key, tc.authTokens.name)
	}
	if s.DefaultMode == nil || *s.DefaultMode != 0o440 {
		t.Errorf("auth defaultMode = %v, want 0440", s.DefaultMode)
	}
	if pod.SecurityContext.FSGroup == nil || *pod.SecurityContext.FSGroup != nonrootUID {
		t.Errorf("fsGroup = %v, want %d so the 0440 file is readable", pod.SecurityContext.FSGroup, nonrootUID)
	}
	if !slices.ContainsFunc(c.VolumeMounts, func(vm corev1.VolumeMount) bool {
		return vm.Name == "auth" && vm.MountPath == authDir && vm.ReadOnly
	}) {
		t.Errorf("volumeMounts = %+v, want auth read-only at %s", c.VolumeMounts, authDir)
	}
}

// checkSecretRef fails unless ref points at a key of a Secret the chart
// renders, or at a Secret the case declares as existing outside the chart.
func checkSecretRef(t *testing.T, m *manifests, tc chartCase, what string, ref secretRef) {
	t.Helper()
	if s, ok := m.secrets[ref.name]; ok {
		if _, ok := s.Data[ref.key]; !ok {
			t.Errorf("%s: key %q is not in rendered Secret %s", what, ref.key, ref.name)
		}
		return
	}
	if !slices.Contains(tc.external, ref.name) {
		t.Errorf("%s: Secret %q is neither rendered nor an existing Secret named in values", what, ref.name)
	}
}

func checkProbe(t *testing.T, kind string, p *corev1.Probe, path string) {
	t.Helper()
	if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != path || p.HTTPGet.Port != intstr.FromString("http") {
		t.Errorf("%s probe = %+v, want GET %s on port http", kind, p, path)
	}
}

// selects reports whether a label selector matches the labels.
func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false // an empty selector matches everything: never intended here
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func isTrue(b *bool) bool { return b != nil && *b }
