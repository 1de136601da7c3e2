package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/mxroute/mxroute/internal/cache"
	"github.com/mxroute/mxroute/internal/feedback"
	"github.com/mxroute/mxroute/internal/handlers"
	"github.com/mxroute/mxroute/internal/resolver"
	"github.com/mxroute/mxroute/internal/routing"
)

func runCLI(t *testing.T, env map[string]string, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	full := map[string]string{"MXROUTE_DNS_SERVERS": "127.0.0.1:1"}
	for k, v := range env {
		full[k] = v
	}
	err := run(context.Background(), append([]string{"mxroute"}, args...), func(k string) string { return full[k] }, &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestRouteCommand(t *testing.T) {
	out, _, err := runCLI(t, nil, "route", "example.com")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"deliver (ok)", "mail1.example.com", "mail2.example.com", "duplicate_address", "ttl          1200s"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	out, _, err = runCLI(t, nil, "route", "nullmx.example")
	if err != nil || !strings.Contains(out, "permanent_failure (null_mx) 5.1.10") {
		t.Errorf("null MX: %v\n%s", err, out)
	}
	if _, _, err := runCLI(t, nil, "route", "bad..domain"); err == nil {
		t.Errorf("an invalid domain was accepted")
	}
	if _, _, err := runCLI(t, nil, "route"); err == nil {
		t.Errorf("a missing domain was accepted")
	}
}

// TestHelpDocumentsEverySetting: --help names each flag with its variable
// and default.
func TestHelpDocumentsEverySetting(t *testing.T) {
	_, help, err := runCLI(t, nil, "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range settings() {
		if !strings.Contains(help, "-"+s.flag) || !strings.Contains(help, s.env) {
			t.Errorf("--help lacks -%s / %s", s.flag, s.env)
		}
	}
}

func TestBadConfiguration(t *testing.T) {
	for _, env := range []map[string]string{
		{"MXROUTE_MAX_ATTEMPTS": "0"},
		{"MXROUTE_ADDRESS_ORDER": "sorted"},
		{"MXROUTE_IGNORE_NETWORKS": "10.0.0.0/33"},
		{"MXROUTE_ALLOW_MX_TO_IP": "perhaps"},
		{"MXROUTE_ZONE_FILES": "/nonexistent.zone"},
		{"MXROUTE_LOCAL_ADDRESSES": "not-an-ip"},
		{"MXROUTE_REDIS_SENTINEL_ADDRS": "127.0.0.1:26379"},
		{"MXROUTE_REDIS_URL": "redis://127.0.0.1:1", "MXROUTE_REDIS_CLUSTER_ADDRS": "127.0.0.1:2"},
		{"MXROUTE_DNS_TIMEOUT": "10s", "MXROUTE_DNS_BUDGET": "5s"},
		{"MXROUTE_SHUTDOWN_GRACE": "0s"},
		{"MXROUTE_HEALTH_VETO": "1.5"},
		{"MXROUTE_HEALTH_BASE_DEMOTION": "2h"},
		{"MXROUTE_DANE": "true"},
		{"MXROUTE_DANE": "maybe", "MXROUTE_DNSSEC_VALIDATING": "true"},
	} {
		if _, _, err := runCLI(t, env, "route", "example.com"); err == nil {
			t.Errorf("%v accepted", env)
		}
	}
}

// TestDefaultsFromPackages: the configuration a run gets without any
// setting is the packages' own defaults, so a default changed in its
// package changes the service and its --help alike.
func TestDefaultsFromPackages(t *testing.T) {
	c, _, err := parseConfig("mxroute", nil, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := feedback.DefaultPolicy()
	got := policy(c)
	if got != want {
		t.Errorf("policy from default settings:\n got  %+v\n want %+v", got, want)
	}
	if c.MaxAttempts != routing.DefaultOptions().MaxAttempts || int64(c.CacheMiB)<<20 != cache.DefaultMaxBytes ||
		c.DNSTimeout != resolver.DefaultTimeout || c.BufferSize != feedback.DefaultBufferSize || c.FeedbackRate != handlers.DefaultFeedbackRate {
		t.Errorf("defaults differ from the packages': %+v", c)
	}
}
