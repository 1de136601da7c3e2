package auth

import (
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeTokens(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestIdentify(t *testing.T) {
	tokens, err := Load(writeTokens(t, "# fleet\nsender-token-0123456789 mta-1 sender\nadmin-token-0123456789 ops admin\n"), testMaxName)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		header string
		name   string
		role   Role
		err    error
	}{
		{"Bearer sender-token-0123456789", "mta-1", RoleSender, nil},
		{"bearer admin-token-0123456789", "ops", RoleAdmin, nil},
		{"BEARER  admin-token-0123456789 ", "ops", RoleAdmin, nil},
		{"", "", "", ErrNoToken},
		{"Basic c2VuZGVyOnB3", "", "", ErrNoToken},
		{"Bearer wrong-token-0123456789", "", "", ErrBadToken},
		{"Bearer sender-token-012345678", "", "", ErrBadToken},
	} {
		r := httptest.NewRequest("GET", "/route", nil)
		if tc.header != "" {
			r.Header.Set("Authorization", tc.header)
		}
		r.Header.Set("X-Mxroute-Reporter", "spoofed")
		id, err := tokens.Identify(r)
		if !errors.Is(err, tc.err) || id.Name != tc.name || id.Role != tc.role {
			t.Errorf("%q: %+v %v, want %s %s %v", tc.header, id, err, tc.name, tc.role, tc.err)
		}
	}
}

// testMaxName stands for the contract's bound, which handlers reads.
const testMaxName = 128

func TestDevMode(t *testing.T) {
	var tokens *Tokens
	r := httptest.NewRequest("GET", "/route", nil)
	r.RemoteAddr = "192.0.2.7:4711"
	if id, err := tokens.Identify(r); err != nil || id.Name != "192.0.2.7" || id.Authenticated {
		t.Errorf("no header: %+v %v, want the client address", id, err)
	}
	r.Header.Set("X-Mxroute-Reporter", "mta-9")
	if id, _ := tokens.Identify(r); id.Name != "mta-9" {
		t.Errorf("header: %+v, want mta-9", id)
	}
	r.Header.Set("X-Mxroute-Reporter", " ")
	if id, _ := tokens.Identify(r); id.Name != "192.0.2.7" {
		t.Errorf("blank header: %+v, want the client address", id)
	}
}

func TestLoadErrorsKeepPreviousTokens(t *testing.T) {
	for _, bad := range []string{
		"", "only-two fields\n", "short x sender\n", "long-enough-token-1 name root\n",
		"long-enough-token-1 a sender\nlong-enough-token-1 b sender\n",
		"long-enough-token-1 " + strings.Repeat("n", testMaxName+1) + " sender\n",
	} {
		if _, err := Load(writeTokens(t, bad), testMaxName); err == nil {
			t.Errorf("%q loaded", bad)
		}
	}
	p := writeTokens(t, "long-enough-token-1 a sender\n")
	tokens, err := Load(p, testMaxName)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("garbage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := tokens.Reload(); err == nil {
		t.Fatal("a bad file reloaded")
	}
	if id, err := tokens.Authenticate("long-enough-token-1"); err != nil || id.Name != "a" {
		t.Errorf("after a failed reload: %+v %v, want the previous token still valid", id, err)
	}
	if err := os.WriteFile(p, []byte("long-enough-token-2 b admin\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := tokens.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := tokens.Authenticate("long-enough-token-1"); !errors.Is(err, ErrBadToken) {
		t.Errorf("rotated-out token: %v, want ErrBadToken", err)
	}
}
