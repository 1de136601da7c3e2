package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestEximHelpDocumentsEverySetting(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"mxroute-agent", "exim", "--help"}, env(nil), &out, &out); err != nil {
		t.Fatal(err)
	}
	own, _ := eximSide().settings()
	for _, s := range append(commonSettings(&common{}), own...) {
		if !strings.Contains(out.String(), "-"+s.flag) || !strings.Contains(out.String(), s.env) {
			t.Errorf("--help lacks -%s / %s", s.flag, s.env)
		}
		if !strings.HasPrefix(s.env, "MXROUTE_AGENT_") {
			t.Errorf("%s is not an MXROUTE_AGENT_ variable", s.env)
		}
	}
}

func TestEximBadConfiguration(t *testing.T) {
	for _, tc := range []map[string]string{
		{"MXROUTE_AGENT_PORT": "0"},
		{"MXROUTE_AGENT_MAX_CONNS": "0"},
		{"MXROUTE_AGENT_ROUTE_TIMEOUT": "5s", "MXROUTE_AGENT_REPLY_BUDGET": "3s"},
		{"MXROUTE_AGENT_URL": "localhost:8080"},
		{"MXROUTE_AGENT_LISTEN": "unix:" + t.TempDir() + "/no/such/dir/exim.sock"},
	} {
		var out bytes.Buffer
		if err := run(context.Background(), []string{"mxroute-agent", "exim"}, env(tc), &out, &out); err == nil {
			t.Errorf("%v accepted", tc)
		}
	}
}
