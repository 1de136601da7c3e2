package console

import (
	"bytes"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mxroute/mxroute/internal/apigen"
)

// page is what every template gets; the page-specific part is in Data.
type page struct {
	Title  string
	Nav    string // which menu entry is current
	Error  *apiError
	Notice string
	Now    time.Time
	Data   any
}

// render writes a page. A 401 from the API turns any page into the login
// page, with the status kept, so a script sees it too.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	var ae *apiError
	if p.Error != nil {
		ae = p.Error
	}
	if ae != nil && ae.Status == http.StatusUnauthorized {
		if r.URL.Query().Get("login") == "basic" {
			w.Header().Set("WWW-Authenticate", `Basic realm="mxroute console", charset="UTF-8"`)
		}
		name, status = "login", http.StatusUnauthorized
		p.Title, p.Nav = "Sign in", ""
		p.Data = loginData{Basic: basicURL(r), Rejected: r.Header.Get("Authorization") != ""}
		p.Error = nil
	}
	p.Now = time.Now().UTC()
	var buf bytes.Buffer
	if err := c.pages[name].Execute(&buf, p); err != nil {
		http.Error(w, "template: "+err.Error(), http.StatusInternalServerError)
		return
	}
	securityHeaders(w.Header())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// statusOf is the HTTP status a page answers with for an API error.
func statusOf(err error) (int, *apiError) {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.Status, ae
	}
	return http.StatusBadGateway, &apiError{Status: http.StatusBadGateway, Title: "API call failed", Detail: err.Error()}
}

type loginData struct {
	Basic    string
	Rejected bool
}

func basicURL(r *http.Request) string {
	u := *r.URL
	q := u.Query()
	q.Set("login", "basic")
	u.RawQuery = q.Encode()
	return u.RequestURI()
}

// fleetRow is one non-healthy address on the fleet page.
type fleetRow struct {
	apigen.HostStatus
	Since *time.Time
}

type fleetData struct {
	State, Query string
	Rows         []fleetRow
	Demoted      int
	Drained      int
	DrainLimit   int
	// Next is the link to the next page of /hosts, when there is one.
	Next  string
	Ready *apigen.Readiness
}

// fleetPage is how many addresses one fleet page lists (the API's limit).
const fleetPage = 200

// fleet is GET /ui/: every address that is not healthy, a page at a time.
// A search that is an address or a network is the API's prefix filter;
// anything else matches MX host and domain names on the page.
func (c *Console) fleet(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	d := fleetData{State: q.Get("state"), Query: strings.TrimSpace(q.Get("q"))}
	v := url.Values{"limit": {strconv.Itoa(fleetPage)}}
	switch d.State {
	case "demoted", "drained":
		v.Set("state", d.State)
	default:
		d.State = ""
	}
	needle := strings.ToLower(d.Query)
	if isNetwork(d.Query) {
		v.Set("prefix", d.Query)
		needle = ""
	}
	if cur := q.Get("cursor"); cur != "" {
		v.Set("cursor", cur)
	}
	var list apigen.HostList
	if err := c.api.get(r, "/hosts?"+v.Encode(), &list); err != nil {
		st, ae := statusOf(err)
		c.render(w, r, st, "fleet", page{Title: "Fleet health", Nav: "fleet", Error: ae, Data: d})
		return
	}
	var trans apigen.TransitionList
	_ = c.api.get(r, "/transitions?limit=1024", &trans) // "since" is a nicety: the page works without it
	since := sinceOf(trans.Transitions)
	for _, h := range list.Hosts {
		if needle != "" && !matches(h, needle) {
			continue
		}
		if h.State == apigen.HostStateDemoted {
			d.Demoted++
		}
		row := fleetRow{HostStatus: h}
		if t, ok := since[h.Address+"|"+string(h.State)]; ok {
			row.Since = &t
		}
		d.Rows = append(d.Rows, row)
	}
	d.Drained, d.DrainLimit = list.Drained, list.DrainLimit
	if list.NextCursor != nil {
		nq := url.Values{"cursor": {*list.NextCursor}}
		if d.State != "" {
			nq.Set("state", d.State)
		}
		if d.Query != "" {
			nq.Set("q", d.Query)
		}
		d.Next = "/ui/?" + nq.Encode()
	}
	var ready apigen.Readiness
	if c.api.get(r, "/readyz", &ready) == nil {
		d.Ready = &ready
	}
	c.render(w, r, http.StatusOK, "fleet", page{Title: "Fleet health", Nav: "fleet", Data: d})
}

// isNetwork reports whether s is an address or a CIDR prefix.
func isNetwork(s string) bool {
	if _, err := netip.ParseAddr(s); err == nil {
		return true
	}
	_, err := netip.ParsePrefix(s)
	return err == nil
}

// sinceOf maps "address|state" to when the address last entered state.
func sinceOf(ts []apigen.Transition) map[string]time.Time {
	m := map[string]time.Time{}
	for _, t := range ts { // oldest first: later ones overwrite
		m[t.Address+"|"+string(t.To)] = t.At
	}
	return m
}

// matches is the fleet page's name search: part of the address, or of the
// MX host or domain of its last failure.
func matches(h apigen.HostStatus, needle string) bool {
	if strings.Contains(strings.ToLower(h.Address), needle) {
		return true
	}
	if f := h.LastFailure; f != nil {
		if f.Host != nil && strings.Contains(strings.ToLower(*f.Host), needle) {
			return true
		}
		if f.Domain != nil && strings.Contains(strings.ToLower(*f.Domain), needle) {
			return true
		}
	}
	return false
}

// hostLookup sends the host form to the host's page.
func (c *Console) hostLookup(w http.ResponseWriter, r *http.Request) {
	a, err := netip.ParseAddr(strings.TrimSpace(r.URL.Query().Get("address")))
	if err != nil {
		c.render(w, r, http.StatusBadRequest, "fleet", page{Title: "Fleet health", Nav: "fleet",
			Error: &apiError{Status: http.StatusBadRequest, Title: "Not an IP address", Detail: r.URL.Query().Get("address")}, Data: fleetData{}})
		return
	}
	http.Redirect(w, r, "/ui/hosts/"+url.PathEscape(a.String()), http.StatusSeeOther)
}

type hostData struct {
	Host    apigen.HostStatus
	History []apigen.Transition
}

// host is GET /ui/hosts/{address}: one address, its history and actions.
func (c *Console) host(w http.ResponseWriter, r *http.Request) {
	addr := r.PathValue("address")
	var d hostData
	if err := c.api.get(r, "/hosts/"+url.PathEscape(addr), &d.Host); err != nil {
		st, ae := statusOf(err)
		c.render(w, r, st, "host", page{Title: addr, Nav: "fleet", Error: ae, Data: d})
		return
	}
	var trans apigen.TransitionList
	if err := c.api.get(r, "/transitions?address="+url.QueryEscape(addr), &trans); err == nil {
		d.History = trans.Transitions
		slices.Reverse(d.History) // newest first
	}
	c.render(w, r, http.StatusOK, "host", page{Title: addr, Nav: "fleet", Data: d})
}

type routeData struct {
	Domain, MaxAttempts, Family string
	Plan                        *apigen.Plan
	TraceURL                    string
}

// route is GET /ui/route: the plan a sender gets.
func (c *Console) route(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	d := routeData{Domain: strings.TrimSpace(q.Get("domain")), MaxAttempts: q.Get("max_attempts"), Family: q.Get("family")}
	if d.Domain == "" {
		c.render(w, r, http.StatusOK, "route", page{Title: "Route explorer", Nav: "route", Data: d})
		return
	}
	v := url.Values{"domain": {d.Domain}}
	if d.MaxAttempts != "" {
		v.Set("max_attempts", d.MaxAttempts)
	}
	if d.Family != "" && d.Family != "any" {
		v.Set("family", d.Family)
	}
	var plan apigen.Plan
	if err := c.api.get(r, "/route?"+v.Encode(), &plan); err != nil {
		st, ae := statusOf(err)
		c.render(w, r, st, "route", page{Title: "Route explorer", Nav: "route", Error: ae, Data: d})
		return
	}
	d.Plan = &plan
	d.TraceURL = c.traceLink(plan.RouteId)
	c.render(w, r, http.StatusOK, "route", page{Title: "Route for " + plan.Domain, Nav: "route", Data: d})
}

type checkData struct {
	Domain   string
	Report   *apigen.CheckReport
	ByLevel  []findingGroup
	Explains map[string]string
}

type findingGroup struct {
	Level, Label, Help string
	Findings           []apigen.Finding
}

// findingLevels orders and explains finding levels for readers who have
// never read RFC 5321.
var findingLevels = []findingGroup{
	{Level: "error", Label: "Must fix", Help: "Mail to this domain fails or can fail because of this."},
	{Level: "warning", Label: "Should fix", Help: "Mail gets through, but less reliably than it could."},
	{Level: "notice", Label: "Worth knowing", Help: "Not wrong, but unusual; check that it is intended."},
	{Level: "info", Label: "Fine", Help: "Observations; nothing to do."},
}

// check is GET /ui/check: the layout report.
func (c *Console) check(w http.ResponseWriter, r *http.Request) {
	d := checkData{Domain: strings.TrimSpace(r.URL.Query().Get("domain"))}
	if d.Domain == "" {
		c.render(w, r, http.StatusOK, "check", page{Title: "Layout check", Nav: "check", Data: d})
		return
	}
	var rep apigen.CheckReport
	if err := c.api.get(r, "/check?"+url.Values{"domain": {d.Domain}}.Encode(), &rep); err != nil {
		st, ae := statusOf(err)
		c.render(w, r, st, "check", page{Title: "Layout check", Nav: "check", Error: ae, Data: d})
		return
	}
	d.Report = &rep
	for _, g := range findingLevels {
		for _, f := range rep.Findings {
			if string(f.Level) == g.Level {
				g.Findings = append(g.Findings, f)
			}
		}
		if len(g.Findings) > 0 {
			d.ByLevel = append(d.ByLevel, g)
		}
	}
	c.render(w, r, http.StatusOK, "check", page{Title: "Check of " + rep.Domain, Nav: "check", Data: d})
}
