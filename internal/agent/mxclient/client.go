// Package mxclient is the agent's side of the mxroute REST contract: GET
// /route and POST /feedback, each bounded by its own timeout, with every
// failure returned as an *Error whose Kind tells the caller whether to fail
// open, retry later or give up. The agent never parses error text to decide.
package mxclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mxroute/mxroute/internal/apigen"
)

// Defaults for Config; the agent's flags take them from here.
const (
	// DefaultRouteTimeout bounds one GET /route. It is well under Postfix's
	// socketmap timeout and Exim's readsocket timeout, so the MTA gets an
	// answer (a fail-open one if need be) before it gives up on the agent.
	DefaultRouteTimeout = 2 * time.Second
	// DefaultFeedbackTimeout bounds one POST /feedback.
	DefaultFeedbackTimeout = 5 * time.Second
	// maxBody caps what is read from any response: a plan of 100 attempts
	// is a few tens of KiB.
	maxBody = 1 << 20
)

// Config is how to reach mxroute and who we are.
type Config struct {
	// URL is mxroute's base URL, e.g. http://127.0.0.1:8080/.
	URL string
	// Token is the bearer token; empty in dev mode.
	Token string
	// Reporter is the node name sent as X-Mxroute-Reporter; the server uses
	// it when it runs without tokens.
	Reporter        string
	RouteTimeout    time.Duration
	FeedbackTimeout time.Duration
}

// Client talks to one mxroute.
type Client struct {
	base *url.URL
	cfg  Config
	http *http.Client
}

// New checks cfg and returns a client. hc may be nil.
func New(cfg Config, hc *http.Client) (*Client, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("mxroute url %q: want http(s)://host[:port]/", cfg.URL)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	if cfg.RouteTimeout <= 0 {
		cfg.RouteTimeout = DefaultRouteTimeout
	}
	if cfg.FeedbackTimeout <= 0 {
		cfg.FeedbackTimeout = DefaultFeedbackTimeout
	}
	if hc == nil {
		hc = &http.Client{Transport: &http.Transport{
			MaxIdleConnsPerHost: 16,
			IdleConnTimeout:     90 * time.Second,
		}}
	}
	return &Client{base: u, cfg: cfg, http: hc}, nil
}

// Route asks for the delivery plan of domain.
func (c *Client) Route(ctx context.Context, domain string) (apigen.Plan, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.RouteTimeout)
	defer cancel()
	u := c.base.JoinPath("route")
	u.RawQuery = url.Values{"domain": {domain}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return apigen.Plan{}, &Error{Op: "GET /route", Kind: Rejected, Err: err}
	}
	var plan apigen.Plan
	if err := c.do(req, http.StatusOK, &plan); err != nil {
		return apigen.Plan{}, err
	}
	switch plan.Disposition {
	case apigen.Deliver, apigen.PermanentFailure, apigen.TemporaryFailure:
	default:
		return apigen.Plan{}, &Error{Op: "GET /route", Kind: Unavailable,
			Err: fmt.Errorf("unknown disposition %q", plan.Disposition)}
	}
	return plan, nil
}

// PostFeedback sends one batch. key is the batch's Idempotency-Key: a
// retry of the same batch carries the same key, so mxroute applies it once.
func (c *Client) PostFeedback(ctx context.Context, key string, reports []apigen.Report) error {
	body, err := json.Marshal(apigen.FeedbackBatch{Reports: reports})
	if err != nil {
		return &Error{Op: "POST /feedback", Kind: Rejected, Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.FeedbackTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base.JoinPath("feedback").String(), bytes.NewReader(body))
	if err != nil {
		return &Error{Op: "POST /feedback", Kind: Rejected, Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	return c.do(req, http.StatusAccepted, nil)
}

func (c *Client) do(req *http.Request, want int, into any) error {
	op := req.Method + " /" + strings.TrimPrefix(req.URL.Path, c.base.Path)
	req.Header.Set("Accept", "application/json")
	if c.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	}
	if c.cfg.Reporter != "" {
		req.Header.Set("X-Mxroute-Reporter", c.cfg.Reporter)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return &Error{Op: op, Kind: Unavailable, Err: err}
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxBody))
	if err != nil {
		return &Error{Op: op, Kind: Unavailable, Status: res.StatusCode, Err: fmt.Errorf("reading body: %w", err)}
	}
	if res.StatusCode != want && !(want == http.StatusAccepted && res.StatusCode == http.StatusOK) {
		return statusError(op, res, body)
	}
	if into == nil {
		return nil
	}
	if err := json.Unmarshal(body, into); err != nil {
		return &Error{Op: op, Kind: Unavailable, Status: res.StatusCode, Err: fmt.Errorf("decoding body: %w", err)}
	}
	return nil
}

// statusError classifies a non-success answer: 429, 408 and 5xx are worth
// retrying (the service is busy or degraded), any other 4xx means this
// request will never be accepted as it is.
func statusError(op string, res *http.Response, body []byte) error {
	e := &Error{Op: op, Status: res.StatusCode, Kind: Rejected}
	var p apigen.Problem
	detail := http.StatusText(res.StatusCode)
	if json.Unmarshal(body, &p) == nil && p.Title != "" {
		detail = p.Title
		if p.Detail != nil {
			detail += ": " + *p.Detail
		}
	}
	e.Err = errors.New(detail)
	if res.StatusCode == http.StatusTooManyRequests || res.StatusCode == http.StatusRequestTimeout || res.StatusCode >= 500 {
		e.Kind = Unavailable
		if s, err := strconv.Atoi(res.Header.Get("Retry-After")); err == nil && s > 0 {
			e.RetryAfter = time.Duration(s) * time.Second
		}
	}
	return e
}
