// Package mtaststest serves MTA-STS policies for tests: a test certificate
// authority made at test time, and loopback HTTPS servers with
// certificates it issued (or deliberately bad ones), counting the requests
// they get.
package mtaststest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// CA is a test certificate authority.
type CA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

// NewCA makes a CA valid for a day.
func NewCA(tb testing.TB) *CA {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mxroute test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &CA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// Pool is a pool holding only the CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// PEMFile writes the CA certificate to a file in the test's directory.
func (ca *CA) PEMFile(tb testing.TB) string {
	tb.Helper()
	f := filepath.Join(tb.TempDir(), "ca.pem")
	if err := os.WriteFile(f, ca.pem, 0o600); err != nil {
		tb.Fatal(err)
	}
	return f
}

// Issue returns a certificate for names, valid from notBefore to notAfter.
func (ca *CA) Issue(tb testing.TB, notBefore, notAfter time.Time, names ...string) tls.Certificate {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		tb.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// Valid returns a certificate for names valid now.
func (ca *CA) Valid(tb testing.TB, names ...string) tls.Certificate {
	return ca.Issue(tb, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour), names...)
}

// Server is a loopback HTTPS server answering every policy host.
type Server struct {
	srv  *httptest.Server
	mu   sync.Mutex
	n    map[string]int
	h    http.Handler
	port int
}

// NewServer serves h over HTTPS on 127.0.0.1 with cert, counting requests
// per Host header.
func NewServer(tb testing.TB, cert tls.Certificate, h http.Handler) *Server {
	tb.Helper()
	s := &Server{n: map[string]int{}, h: h}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.n[r.Host]++
		h := s.h
		s.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	s.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	s.srv.StartTLS()
	tb.Cleanup(s.srv.Close)
	_, p, _ := net.SplitHostPort(s.srv.Listener.Addr().String())
	s.port, _ = strconv.Atoi(p)
	return s
}

// Port is the server's port on 127.0.0.1.
func (s *Server) Port() int { return s.port }

// Requests is the number of requests for host (e.g. "mta-sts.example.com").
func (s *Server) Requests(host string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n[host]
}

// SetHandler replaces the handler.
func (s *Server) SetHandler(h http.Handler) {
	s.mu.Lock()
	s.h = h
	s.mu.Unlock()
}

// Policies serves policy files by Host header ("mta-sts.<domain>"), as
// text/plain; hosts not in the map get 404.
type Policies struct {
	mu sync.Mutex
	m  map[string]string
}

// NewPolicies returns an empty set of policies.
func NewPolicies() *Policies { return &Policies{m: map[string]string{}} }

// Set sets domain's policy file text; "" removes it.
func (p *Policies) Set(domain, text string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if text == "" {
		delete(p.m, domain)
		return
	}
	p.m[domain] = text
}

// ServeHTTP serves the policy of the domain named by the Host header.
func (p *Policies) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	domain, found := strings.CutPrefix(host, "mta-sts.")
	p.mu.Lock()
	text, ok := p.m[domain]
	p.mu.Unlock()
	if !found || !ok || r.URL.Path != "/.well-known/mta-sts.txt" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte(text))
}
