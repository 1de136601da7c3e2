package charttest

import (
	"strings"
	"testing"
)

// TestChecksumRollsPods checks that the pod template changes, and so the
// Deployment rolls, exactly when what the binary reads at start changes.
func TestChecksumRollsPods(t *testing.T) {
	annotations := func(t *testing.T, set map[string]any) map[string]string {
		t.Helper()
		m, err := render(chartDir, set)
		if err != nil {
			t.Fatalf("render: %v", err)
		}
		return m.deployments[fullname].Spec.Template.Annotations
	}
	base := annotations(t, nil)
	if again := annotations(t, nil); again["checksum/config"] != base["checksum/config"] {
		t.Fatalf("checksum/config differs between identical renders: %s, %s", again["checksum/config"], base["checksum/config"])
	}
	changes := []struct {
		name string
		set  map[string]any
		key  string
	}{
		{"log level", map[string]any{"config": map[string]any{"logLevel": "debug"}}, "checksum/config"},
		{"redis mode", map[string]any{"redis": map[string]any{"mode": "cluster", "addrs": []any{"r:6379"}}}, "checksum/config"},
		{"zone file", map[string]any{"zones": map[string]any{"files": map[string]any{"a.zone": "$ORIGIN a.\n"}}}, "checksum/zones"},
		{"inline tokens", map[string]any{"auth": map[string]any{"tokens": "t r sender\n"}}, "checksum/secret"},
	}
	for _, c := range changes {
		t.Run(c.name, func(t *testing.T) {
			if got := annotations(t, c.set)[c.key]; got == base[c.key] {
				t.Errorf("%s = %s after the change, the same as before", c.key, got)
			}
		})
	}
}

// TestRejectsBadValues checks that values the service could not run with
// fail at render time, with a message naming the value, instead of
// producing pods that crash or silently run without Redis.
func TestRejectsBadValues(t *testing.T) {
	cases := []struct {
		name string
		set  map[string]any
		want string
	}{
		{"unknown redis mode", map[string]any{"redis": map[string]any{"mode": "memcached"}}, "redis.mode must be"},
		{"standalone without url", map[string]any{"redis": map[string]any{"mode": "standalone"}}, "needs redis.url"},
		{"url key without secret", map[string]any{"redis": map[string]any{"mode": "standalone", "url": "redis://r:6379", "existingSecretURLKey": "url"}}, "existingSecretURLKey needs redis.existingSecret"},
		{"sentinel without master", map[string]any{"redis": map[string]any{"mode": "sentinel", "addrs": []any{"s:26379"}}}, "redis.master"},
		{"sentinel without addrs", map[string]any{"redis": map[string]any{"mode": "sentinel", "master": "m"}}, "redis.addrs"},
		{"cluster without addrs", map[string]any{"redis": map[string]any{"mode": "cluster"}}, "redis.addrs"},
		{"bad address order", map[string]any{"config": map[string]any{"addressOrder": "sorted"}}, "config.addressOrder"},
		{"bad boolean", map[string]any{"config": map[string]any{"blockPrivate": "yes"}}, "config.blockPrivate"},
		{"zone path escape", map[string]any{"zones": map[string]any{"files": map[string]any{"../x.zone": "x"}}}, "not a plain file name"},
		{"extra not a setting", map[string]any{"config": map[string]any{"extra": map[string]any{"PATH": "/"}}}, "not an MXROUTE_* variable"},
		{"extra repeats a managed setting", map[string]any{"config": map[string]any{"extra": map[string]any{"MXROUTE_REDIS_URL": "redis://x"}}}, "already sets"},
		{"grace too short", map[string]any{"terminationGracePeriodSeconds": 20}, "must be larger than"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := render(chartDir, tc.set)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("render error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}
