package mtasts

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"
)

// Defaults of FetchConfig.
const (
	// DefaultFetchTimeout bounds one fetch, connection and body included.
	// RFC 8461 section 3.3 suggests about a minute for background fetches;
	// a fetch can hold up a sender's plan, so it stays inside the plan's
	// DNS budget.
	DefaultFetchTimeout = 3 * time.Second
	// DefaultMaxBody is the 64 KiB cap of section 3.3.
	DefaultMaxBody = 64 << 10
	// DefaultPort is the HTTPS port; only tests change it.
	DefaultPort = 443
)

// AddrResolver resolves a host name to addresses through mxroute's own
// resolver, so a policy host is looked up the way MX hosts are.
type AddrResolver interface {
	LookupAddrs(ctx context.Context, host string) ([]netip.Addr, error)
}

// FetchConfig configures a Fetcher.
type FetchConfig struct {
	// Resolver resolves mta-sts.<domain>. Required.
	Resolver AddrResolver
	// Dialable says whether an address may be dialled; addresses a plan
	// would never dial are refused here too. Required.
	Dialable func(netip.Addr) bool
	// RootCAs validates the policy host's certificate. Nil: the system
	// roots (WebPKI).
	RootCAs *x509.CertPool
	// Port to connect to. Default DefaultPort; tests only.
	Port int
	// Timeout of one fetch. Default DefaultFetchTimeout.
	Timeout time.Duration
	// MaxBody caps the policy size. Default DefaultMaxBody.
	MaxBody int64
	// Logger receives each failed fetch with its full error; callers show
	// clients only Outcome. Nil: discarded.
	Logger *slog.Logger
}

// Fetcher fetches policy files over HTTPS.
type Fetcher struct {
	cfg    FetchConfig
	client *http.Client
}

// NewFetcher returns a Fetcher. The HTTP client never follows redirects
// (section 3.3), never uses a proxy from the environment, and keeps no idle
// connections: policies are fetched rarely, from many hosts.
func NewFetcher(cfg FetchConfig) *Fetcher {
	if cfg.Port == 0 {
		cfg.Port = DefaultPort
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultFetchTimeout
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	f := &Fetcher{cfg: cfg}
	tr := &http.Transport{
		Proxy:                  nil,
		DialContext:            f.dial,
		TLSClientConfig:        &tls.Config{RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    cfg.Timeout,
		DisableKeepAlives:      true,
		MaxResponseHeaderBytes: 16 << 10,
	}
	f.client = &http.Client{
		Transport:     tr,
		Timeout:       cfg.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return f
}

// FetchErrorKind classifies a failed fetch.
type FetchErrorKind string

// The ways a fetch fails.
const (
	FetchDNS       FetchErrorKind = "dns"
	FetchForbidden FetchErrorKind = "forbidden_address"
	FetchConnect   FetchErrorKind = "connect"
	FetchTLS       FetchErrorKind = "tls"
	FetchHTTP      FetchErrorKind = "http_status"
	FetchRedirect  FetchErrorKind = "redirect"
	FetchMedia     FetchErrorKind = "media_type"
	FetchTooLarge  FetchErrorKind = "too_large"
	FetchInvalid   FetchErrorKind = "invalid_policy"
)

// FetchError is a failed fetch.
type FetchError struct {
	Kind FetchErrorKind
	Err  error
}

func (e *FetchError) Error() string { return fmt.Sprintf("mta-sts fetch: %s: %v", e.Kind, e.Err) }
func (e *FetchError) Unwrap() error { return e.Err }

func fetchErr(k FetchErrorKind, err error) error { return &FetchError{Kind: k, Err: err} }

// outcomes are the public descriptions of each kind. They name the class of
// failure only: the wrapped error may carry socket addresses and tell
// "refused" from "unreachable", which would make every plan and /check a
// reachability probe of whatever the domain's owner points mta-sts.<domain>
// at. The full error goes to the log.
var outcomes = map[FetchErrorKind]string{
	FetchDNS:       "policy host not resolved",
	FetchForbidden: "policy host not dialable",
	FetchConnect:   "connect failed",
	FetchTLS:       "tls",
	FetchHTTP:      "http status",
	FetchRedirect:  "redirect",
	FetchMedia:     "wrong media type",
	FetchTooLarge:  "too large",
	FetchInvalid:   "malformed policy",
}

// Outcome is what may be shown to clients about a failed fetch: the class
// of err, never its text. Errors that are not a FetchError read "fetch
// failed".
func Outcome(err error) string {
	var fe *FetchError
	if errors.As(err, &fe) {
		if o, ok := outcomes[fe.Kind]; ok {
			return o
		}
	}
	return "fetch failed"
}

// URL is where a domain's policy lives (section 3.3).
func URL(domain string) string { return "https://mta-sts." + domain + "/.well-known/mta-sts.txt" }

// Fetch gets and parses the policy of domain (normalised, no trailing dot).
// A failure is a *FetchError, logged in full; show clients only its
// Outcome.
func (f *Fetcher) Fetch(ctx context.Context, domain string) (Policy, error) {
	p, err := f.fetch(ctx, domain)
	if err != nil {
		f.cfg.Logger.Info("mta-sts policy fetch failed", "domain", domain, "outcome", Outcome(err), "err", err)
	}
	return p, err
}

func (f *Fetcher) fetch(ctx context.Context, domain string) (Policy, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, URL(domain), nil)
	if err != nil {
		return Policy{}, fetchErr(FetchInvalid, err)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return Policy{}, classify(err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return Policy{}, fetchErr(FetchRedirect, fmt.Errorf("status %d to %q", resp.StatusCode, resp.Header.Get("Location")))
	case resp.StatusCode != http.StatusOK:
		return Policy{}, fetchErr(FetchHTTP, fmt.Errorf("status %d", resp.StatusCode))
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != "text/plain" {
		return Policy{}, fetchErr(FetchMedia, fmt.Errorf("Content-Type %q, want text/plain", resp.Header.Get("Content-Type")))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, f.cfg.MaxBody+1))
	if err != nil {
		return Policy{}, classify(err)
	}
	if int64(len(body)) > f.cfg.MaxBody {
		return Policy{}, fetchErr(FetchTooLarge, fmt.Errorf("policy larger than %d bytes", f.cfg.MaxBody))
	}
	p, err := Parse(body)
	if err != nil {
		return Policy{}, fetchErr(FetchInvalid, err)
	}
	return p, nil
}

// classify turns a transport error into a FetchError.
func classify(err error) error {
	var fe *FetchError
	if errors.As(err, &fe) {
		return fe
	}
	var certErr *tls.CertificateVerificationError
	var hostErr x509.HostnameError
	var authErr x509.UnknownAuthorityError
	var recErr tls.RecordHeaderError
	if errors.As(err, &certErr) || errors.As(err, &hostErr) || errors.As(err, &authErr) || errors.As(err, &recErr) {
		return fetchErr(FetchTLS, err)
	}
	return fetchErr(FetchConnect, err)
}

// dial connects to the policy host through mxroute's resolver, trying its
// dialable addresses in order on the configured port.
func (f *Fetcher) dial(ctx context.Context, network, hostport string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return nil, fetchErr(FetchConnect, err)
	}
	addrs, err := f.cfg.Resolver.LookupAddrs(ctx, host)
	if err != nil {
		return nil, fetchErr(FetchDNS, err)
	}
	var d net.Dialer
	var errs []error
	for _, a := range addrs {
		if !f.cfg.Dialable(a) {
			errs = append(errs, fmt.Errorf("%s is not dialled", a))
			continue
		}
		c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(a.Unmap().String(), strconv.Itoa(f.cfg.Port)))
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, fetchErr(FetchDNS, fmt.Errorf("%s has no addresses", host))
	}
	kind := FetchConnect
	if len(errs) == len(addrs) && allForbidden(addrs, f.cfg.Dialable) {
		kind = FetchForbidden
	}
	return nil, fetchErr(kind, errors.Join(errs...))
}

func allForbidden(addrs []netip.Addr, ok func(netip.Addr) bool) bool {
	for _, a := range addrs {
		if ok(a) {
			return false
		}
	}
	return true
}
