package postfix

import (
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mxroute/mxroute/internal/apigen"
)

// The smtp(8) client logs each attempt in exactly one of two ways, which is
// what makes exactly-once reporting possible (src/smtp/smtp_connect.c and
// smtp_trouble.c):
//
//   - a failure that leaves other servers to try is an info line of its
//     own: "connect to H[a]:p: Connection refused" (no queue id), or
//     "QID: host H[a] said: 421 ... (in reply to RCPT TO command)",
//     "QID: lost connection with H[a] while ...";
//   - the last server's outcome is the recipient's status line:
//     "QID: to=<r>, relay=H[a]:p, ..., dsn=..., status=sent|deferred|bounced (reason)".
//
// A connection failure of the last server is logged both ways (the info
// line, then status=... with relay=none repeating it), so status lines
// with relay=none are never reported. A transaction with several
// recipients logs one status line each; lines repeating the previous one
// of the same process are reported once.

// Attributor names the plan that most recently listed an address; the
// socketmap server is one. May be nil.
type Attributor interface {
	Attribute(addr string) (Attribution, bool)
}

// Attribution is what a plan said about an address: Postfix logs literal
// next-hops as "127.0.0.2[127.0.0.2]", without the MX host name.
type Attribution struct{ Domain, RouteID, Host string }

// Counts are a Parser's counters.
type Counts struct {
	Lines   uint64 // every line seen
	Reports uint64 // reports produced
	Other   uint64 // lines of other Postfix programs or other daemons
	Skipped uint64 // smtp lines understood that are not attempts (relay=none, repeats, warnings)
	Unknown uint64 // lines not understood: bad header, or smtp text we do not know
}

// Parser turns log lines into reports. Not safe for concurrent use (the
// counters are, for reading).
type Parser struct {
	now    func() time.Time
	loc    *time.Location
	attr   Attributor
	last   map[int]string // pid -> key of the last status line
	tlsTo  map[int]string // pid -> H[a]:p of the last TLS session started
	counts struct{ lines, reports, other, skipped, unknown atomic.Uint64 }
}

// NewParser returns a parser. loc is the zone of traditional timestamps
// (time.Local when nil); now and attr may be nil.
func NewParser(loc *time.Location, now func() time.Time, attr Attributor) *Parser {
	if loc == nil {
		loc = time.Local
	}
	if now == nil {
		now = time.Now
	}
	return &Parser{now: now, loc: loc, attr: attr, last: map[int]string{}, tlsTo: map[int]string{}}
}

// Counts returns the counters.
func (p *Parser) Counts() Counts {
	return Counts{Lines: p.counts.lines.Load(), Reports: p.counts.reports.Load(), Other: p.counts.other.Load(),
		Skipped: p.counts.skipped.Load(), Unknown: p.counts.unknown.Load()}
}

// Parse returns the reports in one log line: none for most lines.
func (p *Parser) Parse(line []byte) []apigen.Report {
	p.counts.lines.Add(1)
	h, ok := parseHeader(line, p.now(), p.loc)
	if !ok {
		p.counts.unknown.Add(1)
		return nil
	}
	if !strings.HasSuffix(h.prog, "/smtp") {
		p.counts.other.Add(1)
		return nil
	}
	r, verdict := p.smtp(h)
	switch verdict {
	case report:
		p.counts.reports.Add(1)
		return []apigen.Report{r}
	case skip:
		p.counts.skipped.Add(1)
	default:
		p.counts.unknown.Add(1)
	}
	return nil
}

type verdict int

const (
	unknown verdict = iota
	skip
	report
)

func (p *Parser) smtp(h header) (apigen.Report, verdict) {
	text := h.text
	if strings.HasPrefix(text, "warning: ") || strings.HasPrefix(text, "fatal: ") || strings.HasPrefix(text, "panic: ") {
		return apigen.Report{}, skip
	}
	if strings.HasPrefix(text, "connect to ") || strings.HasPrefix(text, "SSL_connect error to ") {
		return p.finish(h, parseReason(text), "", "")
	}
	if _, after, ok := strings.Cut(text, "TLS connection established to "); ok {
		// "Untrusted TLS connection established to H[a]:p: TLSv1.3 ...":
		// the peer of host-less TLS failures that follow.
		p.tlsTo[h.pid], _, _ = strings.Cut(after, ": ")
		return apigen.Report{}, skip
	}
	qid, rest, ok := strings.Cut(text, ": ")
	if !ok || !isQueueID(qid) {
		return apigen.Report{}, unknown
	}
	if strings.HasPrefix(rest, "to=<") {
		return p.status(h, qid, rest)
	}
	f := parseReason(rest)
	if f.kind == kindNoHost {
		f = p.withTLSPeer(h.pid, f)
	}
	return p.finish(h, f, "", "")
}

// status handles a recipient's status line.
func (p *Parser) status(h header, qid, rest string) (apigen.Report, verdict) {
	to := between(rest, "to=<", ">")
	relay := between(rest, ", relay=", ", ")
	status := between(rest, ", status=", " ")
	if status == "" {
		status = strings.TrimPrefix(rest[strings.LastIndex(rest, ", ")+2:], "status=")
	}
	reason := ""
	if i := strings.Index(rest, ", status="+status+" ("); i >= 0 {
		reason = strings.TrimSuffix(rest[i+len(", status="+status+" ("):], ")")
	}
	if relay == "" || relay == "none" {
		return apigen.Report{}, skip
	}
	key := qid + "|" + relay + "|" + status + "|" + reason
	if p.last[h.pid] == key {
		return apigen.Report{}, skip
	}
	p.last[h.pid] = key
	host, addr, port, ok := splitNamAddr(relay)
	if !ok {
		return apigen.Report{}, skip // relay=local, a unix socket...
	}
	_ = port
	domain := ""
	if at := strings.LastIndexByte(to, '@'); at >= 0 {
		domain = strings.ToLower(to[at+1:])
	}
	var f finding
	switch status {
	case "sent", "deliverable":
		f = finding{kind: kindHost, host: host, addr: addr, outcome: apigen.Success, stage: apigen.Data}
		f.code, f.ecode = replyCode(reason)
	case "deferred", "bounced", "undeliverable", "expired":
		f = parseReason(reason)
		switch f.kind {
		case kindNone:
			return apigen.Report{}, unknown
		case kindSkip:
			return apigen.Report{}, skip
		}
		f.kind, f.host, f.addr = kindHost, host, addr
	default:
		return apigen.Report{}, unknown
	}
	return p.finish(h, f, domain, "")
}

func (p *Parser) withTLSPeer(pid int, f finding) finding {
	peer, ok := p.tlsTo[pid]
	if !ok {
		f.kind = kindSkip
		return f
	}
	host, addr, _, ok := splitNamAddr(peer)
	if !ok {
		f.kind = kindSkip
		return f
	}
	f.kind, f.host, f.addr = kindHost, host, addr
	return f
}

func (p *Parser) finish(h header, f finding, domain, routeID string) (apigen.Report, verdict) {
	switch f.kind {
	case kindNone:
		return apigen.Report{}, unknown
	case kindSkip, kindNoHost:
		return apigen.Report{}, skip
	}
	r := apigen.Report{Address: f.addr, Outcome: f.outcome, Stage: f.stage}
	if r.Outcome == "" {
		r.Outcome = apigen.Failure
	}
	at := h.at.UTC()
	r.ObservedAt = &at
	host := f.host
	if host == f.addr || host == "unknown" {
		host = ""
	}
	if p.attr != nil {
		if a, ok := p.attr.Attribute(f.addr); ok && (domain == "" || domain == a.Domain) {
			domain, routeID = a.Domain, a.RouteID
			if host == "" {
				host = a.Host
			}
		}
	}
	if host != "" {
		r.Host = &host
	}
	if domain != "" {
		r.Domain = &domain
	}
	if routeID != "" {
		r.RouteId = &routeID
	}
	if f.code != 0 {
		r.SmtpCode = &f.code
	}
	if f.ecode != "" {
		r.EnhancedCode = &f.ecode
	}
	return r, report
}

type kind int

const (
	kindNone   kind = iota // not understood
	kindSkip               // understood, not an attempt on a known host
	kindNoHost             // a TLS failure whose host is the session's peer
	kindHost
)

type finding struct {
	kind       kind
	host, addr string
	outcome    apigen.ReportOutcome
	stage      apigen.ReportStage
	code       int
	ecode      string
}

// parseReason reads the reason text smtp(8) gives a failure.
func parseReason(s string) finding {
	switch {
	case strings.HasPrefix(s, "connect to "):
		return hostFinding(s[len("connect to "):], apigen.Connect)
	case strings.HasPrefix(s, "SSL_connect error to "):
		return hostFinding(s[len("SSL_connect error to "):], apigen.Tls)
	case strings.HasPrefix(s, "host "):
		namaddr, rest, ok := strings.Cut(s[len("host "):], " ")
		if !ok {
			return finding{}
		}
		f := hostFinding(namaddr, "")
		switch {
		case strings.HasPrefix(rest, "said: "):
			f.code, f.ecode = replyCode(rest[len("said: "):])
			f.stage = stageOfCommand(between(rest, "(in reply to ", " command)"))
		case strings.HasPrefix(rest, "refused to talk to me: "):
			f.code, f.ecode = replyCode(rest[len("refused to talk to me: "):])
			f.stage = apigen.Greeting
		}
		if f.stage == "" {
			return finding{}
		}
		return f
	case strings.HasPrefix(s, "lost connection with "), strings.HasPrefix(s, "conversation with "):
		_, after, _ := strings.Cut(s, " with ")
		namaddr, rest, _ := strings.Cut(after, " ")
		_, where, ok := strings.Cut(rest, "while ")
		if !ok {
			return finding{}
		}
		f := hostFinding(namaddr, stageOfWhere(where))
		if f.stage == "" {
			f.kind = kindSkip // RSET probe, QUIT: after the delivery
		}
		return f
	case strings.HasPrefix(s, "TLS is required, but was not offered by host "):
		return hostFinding(s[len("TLS is required, but was not offered by host "):], apigen.Tls)
	case strings.HasPrefix(s, "TLS is required, but host "):
		namaddr, rest, _ := strings.Cut(s[len("TLS is required, but host "):], " ")
		f := hostFinding(namaddr, apigen.Tls)
		f.code, f.ecode = replyCode(strings.TrimPrefix(rest, "refused to start TLS: "))
		return f
	case strings.HasPrefix(s, "Server certificate not "):
		return finding{kind: kindNoHost, stage: apigen.Tls}
	case strings.HasPrefix(s, "Cannot start TLS"):
		// The SSL_connect error line before it is the report.
		return finding{kind: kindSkip}
	}
	return finding{}
}

func hostFinding(namaddr string, stage apigen.ReportStage) finding {
	host, addr, _, ok := splitNamAddr(namaddr)
	if !ok {
		return finding{}
	}
	return finding{kind: kindHost, host: host, addr: addr, stage: stage}
}

// splitNamAddr reads "host[addr]" or "host[addr]:port" (trailing ":" or
// text after a colon and space ignored).
func splitNamAddr(s string) (host, addr string, port int, ok bool) {
	lb := strings.IndexByte(s, '[')
	rb := strings.IndexByte(s, ']')
	if lb < 0 || rb < lb {
		return "", "", 0, false
	}
	a, err := netip.ParseAddr(s[lb+1 : rb])
	if err != nil {
		return "", "", 0, false
	}
	rest := s[rb+1:]
	if strings.HasPrefix(rest, ":") {
		digits := rest[1:]
		if i := strings.IndexFunc(digits, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
			digits = digits[:i]
		}
		port, _ = strconv.Atoi(digits)
	}
	return strings.ToLower(s[:lb]), a.Unmap().String(), port, true
}

// replyCode reads "421 4.3.2 text" or "421 text".
func replyCode(s string) (int, string) {
	if len(s) < 3 {
		return 0, ""
	}
	code, err := strconv.Atoi(s[:3])
	if err != nil || code < 200 || code > 599 || (len(s) > 3 && s[3] != ' ' && s[3] != '-') {
		return 0, ""
	}
	rest := strings.TrimLeft(s[3:], " -")
	word, _, _ := strings.Cut(rest, " ")
	if isEnhanced(word, s[0]) {
		return code, word
	}
	return code, ""
}

func isEnhanced(w string, class byte) bool {
	parts := strings.Split(w, ".")
	if len(parts) != 3 || len(parts[0]) != 1 || parts[0][0] != class {
		return false
	}
	for _, p := range parts[1:] {
		if n, err := strconv.Atoi(p); err != nil || n < 0 || n > 999 || len(p) > 3 {
			return false
		}
	}
	return true
}

func stageOfCommand(cmd string) apigen.ReportStage {
	switch {
	case cmd == "":
		return ""
	case strings.HasPrefix(cmd, "RCPT"):
		return apigen.Rcpt
	case strings.HasPrefix(cmd, "MAIL"):
		return apigen.Mail
	case cmd == "DATA" || strings.HasPrefix(cmd, "end of DATA") || cmd == "BDAT":
		return apigen.Data
	case cmd == "STARTTLS":
		return apigen.Tls
	case cmd == "EHLO" || cmd == "HELO" || cmd == "LHLO" || strings.HasPrefix(cmd, "XFORWARD") || strings.HasPrefix(cmd, "XCLIENT") || strings.HasPrefix(cmd, "AUTH"):
		return apigen.Ehlo
	}
	return "" // RSET, QUIT: not part of the attempt
}

func stageOfWhere(w string) apigen.ReportStage {
	switch {
	case strings.HasPrefix(w, "receiving the initial server greeting"):
		return apigen.Greeting
	case strings.Contains(w, "STARTTLS"), strings.Contains(w, "TLS"):
		return apigen.Tls
	case strings.HasPrefix(w, "performing the"), strings.HasPrefix(w, "sending XFORWARD"), strings.HasPrefix(w, "sending XCLIENT"), strings.HasPrefix(w, "performing AUTH"):
		return apigen.Ehlo
	case strings.HasPrefix(w, "sending MAIL FROM"):
		return apigen.Mail
	case strings.HasPrefix(w, "sending RCPT TO"):
		return apigen.Rcpt
	case strings.HasPrefix(w, "sending DATA"), strings.HasPrefix(w, "sending end of data"), strings.HasPrefix(w, "sending message body"):
		return apigen.Data
	}
	return ""
}

func isQueueID(s string) bool {
	if len(s) < 5 || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

// between returns the text after open up to the next close, or "".
func between(s, open, close string) string {
	i := strings.Index(s, open)
	if i < 0 {
		return ""
	}
	s = s[i+len(open):]
	j := strings.Index(s, close)
	if j < 0 {
		return ""
	}
	return s[:j]
}
