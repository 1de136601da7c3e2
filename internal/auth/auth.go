// Package auth decides who is calling: it reads the operator's tokens file,
// matches bearer tokens in constant time, and puts the caller's identity in
// the request context for the handlers and the rate limiter.
//
// Tokens live in a plain file (`token reporter-name role` per line) rather
// than in a database because the fleet is small and the file is what a
// Kubernetes Secret mounts. It is re-read on SIGHUP by the caller of Reload;
// a file that fails to parse leaves the previous tokens in force, so a typo
// during a rotation does not lock the fleet out.
package auth

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
)

// Role is what a token may do.
type Role string

// The roles a token can have.
const (
	// RoleSender may ask for routes and report outcomes.
	RoleSender Role = "sender"
	// RoleAdmin may also drain and undrain addresses.
	RoleAdmin Role = "admin"
)

// Identity is the caller of one request.
type Identity struct {
	// Name identifies the reporter in votes: the token's name, or in dev
	// mode the X-Mxroute-Reporter header or the client address.
	Name string
	// Role is empty in dev mode (no tokens file): everything is allowed.
	Role Role
	// Authenticated is true when a valid bearer token was presented.
	Authenticated bool
}

type ctxKey struct{}

// FromContext returns the identity the middleware stored.
func FromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(ctxKey{}).(Identity)
	return id, ok
}

// WithIdentity returns ctx carrying id.
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

type entry struct {
	sum  [32]byte
	name string
	role Role
}

// Tokens holds the bearer tokens. The zero value, and a nil *Tokens, mean
// dev mode: no authentication.
type Tokens struct {
	path    string
	maxName int
	entries atomic.Pointer[[]entry]
}

// Load reads the tokens file at path. A reporter name longer than maxName
// bytes is an error: the contract bounds names (the X-Mxroute-Reporter
// header's maxLength, which the caller passes), and a token's name is one.
func Load(path string, maxName int) (*Tokens, error) {
	t := &Tokens{path: path, maxName: maxName}
	if err := t.Reload(); err != nil {
		return nil, err
	}
	return t, nil
}

// Reload re-reads the file; on error the previous tokens stay in force.
func (t *Tokens) Reload() error {
	f, err := os.Open(t.path)
	if err != nil {
		return fmt.Errorf("read tokens: %w", err)
	}
	defer f.Close()
	es, err := parse(f.Name(), bufio.NewScanner(f), t.maxName)
	if err != nil {
		return err
	}
	t.entries.Store(&es)
	return nil
}

// Len returns the number of tokens loaded.
func (t *Tokens) Len() int {
	if t == nil || t.entries.Load() == nil {
		return 0
	}
	return len(*t.entries.Load())
}

func parse(name string, sc *bufio.Scanner, maxName int) ([]entry, error) {
	var es []entry
	seen := map[string]bool{}
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 {
			return nil, fmt.Errorf("%s:%d: want `token reporter-name role`, got %d fields", name, n, len(f))
		}
		role := Role(f[2])
		if role != RoleSender && role != RoleAdmin {
			return nil, fmt.Errorf("%s:%d: role %q is not sender or admin", name, n, f[2])
		}
		if len(f[0]) < 16 {
			return nil, fmt.Errorf("%s:%d: token shorter than 16 characters", name, n)
		}
		if len(f[1]) > maxName {
			return nil, fmt.Errorf("%s:%d: reporter name longer than %d bytes", name, n, maxName)
		}
		if seen[f[0]] {
			return nil, fmt.Errorf("%s:%d: duplicate token", name, n)
		}
		seen[f[0]] = true
		es = append(es, entry{sum: sha256.Sum256([]byte(f[0])), name: f[1], role: role})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(es) == 0 {
		return nil, fmt.Errorf("%s: no tokens", name)
	}
	return es, nil
}

// ErrNoToken and ErrBadToken tell the two reasons for a 401 apart.
var (
	ErrNoToken  = errors.New("missing bearer token")
	ErrBadToken = errors.New("invalid bearer token")
)

// Authenticate returns the identity for a bearer token. Every entry is
// compared, in constant time on fixed-length hashes, so the time taken says
// nothing about which token nearly matched.
func (t *Tokens) Authenticate(token string) (Identity, error) {
	if token == "" {
		return Identity{}, ErrNoToken
	}
	sum := sha256.Sum256([]byte(token))
	var found entry
	ok := 0
	for _, e := range *t.entries.Load() {
		if subtle.ConstantTimeCompare(sum[:], e.sum[:]) == 1 {
			found, ok = e, 1
		}
	}
	if ok == 0 {
		return Identity{}, ErrBadToken
	}
	return Identity{Name: found.name, Role: found.role, Authenticated: true}, nil
}

// Enabled reports whether tokens are configured.
func (t *Tokens) Enabled() bool { return t != nil && t.entries.Load() != nil }

// ReporterHeader names the caller in dev mode.
const ReporterHeader = "X-Mxroute-Reporter"

// Identify works out the caller of r. In dev mode (t nil) it never fails:
// the name is the ReporterHeader, else the client address. The caller
// bounds the header's length (the contract states the bound; the handlers
// answer 400 beyond it).
func (t *Tokens) Identify(r *http.Request) (Identity, error) {
	if !t.Enabled() {
		name := strings.TrimSpace(r.Header.Get(ReporterHeader))
		if name == "" {
			name = clientHost(r.RemoteAddr)
		}
		return Identity{Name: name}, nil
	}
	// The scheme is case-insensitive (RFC 9110 11.1).
	scheme, token, _ := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		token = ""
	}
	return t.Authenticate(strings.TrimSpace(token))
}

func clientHost(remote string) string {
	if h, _, err := net.SplitHostPort(remote); err == nil {
		return h
	}
	return remote
}
