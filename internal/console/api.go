package console

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// apiClient calls the API's handler in process, as the browser's user.
type apiClient struct {
	h http.Handler
}

// apiError is a problem answered by the API (or the console's own).
type apiError struct {
	Status int    `json:"status"`
	Title  string `json:"title"`
	Detail string `json:"detail"`
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Title, e.Detail) }

// recorder is the smallest ResponseWriter that keeps a response.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}
func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}

// bearer is the caller's token as the API wants it: a bearer token as
// sent by the console's JavaScript, or the password of the Basic
// credentials a browser without JavaScript sends.
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if scheme, rest, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "basic") {
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(rest))
		if err != nil {
			return ""
		}
		if _, pass, ok := strings.Cut(string(raw), ":"); ok && pass != "" {
			return "Bearer " + pass
		}
		return ""
	}
	return h
}

// get calls GET path on the API and decodes a 200 answer into out; any
// other answer is an *apiError.
func (c apiClient) get(r *http.Request, path string, out any) error {
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, path, nil)
	if err != nil {
		return &apiError{Status: http.StatusBadRequest, Title: "Bad request", Detail: err.Error()}
	}
	req.RemoteAddr = r.RemoteAddr
	if b := bearer(r); b != "" {
		req.Header.Set("Authorization", b)
	}
	req.Header.Set("Accept", "application/json")
	rec := &recorder{header: http.Header{}}
	c.h.ServeHTTP(rec, req)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	if rec.status != http.StatusOK {
		e := &apiError{}
		if json.Unmarshal(rec.body.Bytes(), e) != nil || e.Status == 0 {
			e = &apiError{Status: rec.status, Title: http.StatusText(rec.status)}
		}
		return e
	}
	if err := json.Unmarshal(rec.body.Bytes(), out); err != nil {
		return &apiError{Status: http.StatusBadGateway, Title: "Unexpected API answer", Detail: err.Error()}
	}
	return nil
}
