package telemetry

import "testing"

func TestUntraced(t *testing.T) {
	for path, want := range map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true, "/route": false, "/feedback": false} {
		if got := untraced(path); got != want {
			t.Errorf("untraced(%q) = %v, want %v", path, got, want)
		}
	}
}
