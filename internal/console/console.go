// Package console is the operator console at /ui/: server-rendered pages
// (html/template) over the documented API, with a little JavaScript for
// live updates and actions. Assets are embedded; nothing comes from a CDN
// and nothing is built with Node.
//
// The console is a client of the API, not of the services behind it: each
// page calls the API's own http.Handler in process (GET /hosts,
// /transitions, /route, /check, /readyz) with the caller's credentials,
// and renders what the contract returns. So anything the console shows, a
// script can get from the API, and the API's authorisation applies
// unchanged: read pages need any token, drains need an admin one.
//
// Authentication, with a tokens file:
//   - With JavaScript, the login form keeps the token in sessionStorage
//     (gone when the tab closes) and every page, stream and action is
//     fetched with "Authorization: Bearer". Actions are fetch() POST and
//     DELETE calls to the API with that header, never cookie-authorised
//     forms, so a cross-site page cannot forge one.
//   - Without JavaScript, pages can still be read: "?login=basic" answers
//     with a Basic challenge, the browser asks for a user name (ignored)
//     and the token as password, and keeps it for the session. The console
//     forwards it to the API as a bearer token. The API itself accepts
//     only bearer tokens, so those Basic credentials, which the browser
//     sends by itself, can only read pages under /ui/ and never act.
package console

import (
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options configures the console.
type Options struct {
	// API is the service's HTTP handler, called in process.
	API http.Handler
	// TraceURL links a plan to its trace: "{trace_id}" is replaced by the
	// plan's route_id (its trace id). Empty: no link.
	TraceURL string
}

// Console serves /ui/.
type Console struct {
	api      apiClient
	traceURL string
	pages    map[string]*template.Template
	mux      *http.ServeMux
}

// New returns the console handler, to be mounted at /ui/.
func New(o Options) (*Console, error) {
	c := &Console{api: apiClient{h: o.API}, traceURL: o.TraceURL, pages: map[string]*template.Template{}}
	for _, name := range []string{"fleet", "host", "route", "check", "login"} {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, err
		}
		c.pages[name] = t
	}
	c.mux = c.routes()
	return c, nil
}

// ServeHTTP serves /ui/ requests.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) { c.mux.ServeHTTP(w, r) }

// routes lists the console's pages.
func (c *Console) routes() *http.ServeMux {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /ui/static/", http.StripPrefix("/ui/static/", staticHandler(http.FileServerFS(static))))
	mux.HandleFunc("GET /ui/{$}", c.fleet)
	mux.HandleFunc("GET /ui/host", c.hostLookup)
	mux.HandleFunc("GET /ui/hosts/{address}", c.host)
	mux.HandleFunc("GET /ui/route", c.route)
	mux.HandleFunc("GET /ui/check", c.check)
	mux.HandleFunc("GET /ui", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ui/", http.StatusMovedPermanently) })
	mux.HandleFunc("/ui/", func(w http.ResponseWriter, r *http.Request) {
		c.render(w, r, http.StatusNotFound, "fleet", page{Title: "Not found", Nav: "fleet",
			Error: &apiError{Status: http.StatusNotFound, Title: "Not found", Detail: r.Method + " " + r.URL.Path + " is not a console page"}, Data: fleetData{}})
	})
	return mux
}

// staticHandler sets headers for the embedded assets: they change only
// with the binary, and the pages never load anything else.
func staticHandler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		next.ServeHTTP(w, r)
	})
}

// securityHeaders keep the pages to their own origin: no inline script,
// no framing, nothing loaded from elsewhere.
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
}

// traceLink is the trace UI address of a route id, or "".
func (c *Console) traceLink(routeID string) string {
	if c.traceURL == "" || routeID == "" {
		return ""
	}
	return strings.ReplaceAll(c.traceURL, "{trace_id}", routeID)
}
