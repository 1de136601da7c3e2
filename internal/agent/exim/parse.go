package exim

import (
	"bytes"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/mxroute/mxroute/internal/apigen"
)

// EventTag starts the lines the transport's event_action writes to the main
// log (docs/exim.md); the fields after it are key=value, data last.
const EventTag = "mxroute-event"

// Kind says what ParseLine made of a line.
type Kind int

const (
	// Other: a line with nothing for us (most of Exim's log).
	Other Kind = iota
	// Reported: the line is one attempt on one host.
	Reported
	// Skipped: an mxroute-event or host line that is not an attempt, or
	// is reported by the other kind of line (see messageLevel).
	Skipped
	// Malformed: an mxroute-event line we cannot read; counted.
	Malformed
)

// Attempt is one try at one host, as read from the log.
type Attempt struct {
	At      time.Time
	Event   string // the Exim event, or "log" for one of Exim's own lines
	Address string // the host's IP address
	Host    string // $host: the name Exim knew, the address for IP literals
	Domain  string // empty on Exim's own lines, which do not name it
	Outcome apigen.ReportOutcome
	Stage   apigen.ReportStage
	Code    int    // SMTP reply code, 0 when there was none
	Status  string // enhanced status code from the reply, if any
}

// The Exim errno values the events carry (src/macros.h).
const (
	errnoTLSFailure     = -37
	errnoConnectTimeout = -43
)

// ParseLine reads one main log line. loc is the zone of timestamps written
// without one (Exim's default; log_timezone adds it).
func ParseLine(line []byte, loc *time.Location) (Attempt, Kind) {
	// Most of a main log is neither kind of line: skip those before
	// parsing the time.
	if !bytes.Contains(line, eventTag) && !bytes.Contains(line, hostTag) {
		return Attempt{}, Other
	}
	at, rest, ok := parsePrefix(string(bytes.TrimRight(line, "\r\n")), loc)
	if !ok {
		return Attempt{}, Other
	}
	if body, ok := strings.CutPrefix(rest, EventTag+" "); ok {
		return parseEvent(at, body)
	}
	if strings.HasPrefix(rest, "H=") {
		return parseHostLine(at, rest)
	}
	return Attempt{}, Other
}

// parsePrefix splits "date time[.ms] [zone] [[pid]] [message-id] rest".
func parsePrefix(s string, loc *time.Location) (time.Time, string, bool) {
	if len(s) < 20 || s[4] != '-' || s[10] != ' ' {
		return time.Time{}, "", false
	}
	end := 19
	if len(s) > 23 && s[19] == '.' {
		end = 23
	}
	layout := "2006-01-02 15:04:05.000"[:end]
	if len(s) > end+6 && s[end] == ' ' && (s[end+1] == '+' || s[end+1] == '-') && isDigits(s[end+2:end+6]) {
		at, err := time.Parse(layout+" -0700", s[:end+6])
		if err != nil {
			return time.Time{}, "", false
		}
		return at.UTC(), skipIDs(s[end+6:]), true
	}
	at, err := time.ParseInLocation(layout, s[:end], loc)
	if err != nil {
		return time.Time{}, "", false
	}
	return at.UTC(), skipIDs(s[end:]), true
}

var (
	eventTag = []byte(EventTag + " ")
	hostTag  = []byte(" H=")
)

// isMessageID tells Exim's message ids, old (4.96: 6-6-2) and new (4.97+:
// 6-11-4) length, from the first word of a log line's text.
func isMessageID(s string) bool {
	a, rest, ok1 := strings.Cut(s, "-")
	b, c, ok2 := strings.Cut(rest, "-")
	return ok1 && ok2 && len(a) == 6 && len(b) >= 6 && len(b) <= 11 && len(c) >= 2 && len(c) <= 4 &&
		isBase62(a) && isBase62(b) && isBase62(c)
}

func isBase62(s string) bool {
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

func skipIDs(s string) string {
	s = strings.TrimLeft(s, " ")
	if strings.HasPrefix(s, "[") { // log_selector +pid
		if i := strings.IndexByte(s, ']'); i > 0 {
			s = strings.TrimLeft(s[i+1:], " ")
		}
	}
	if tok, rest, ok := strings.Cut(s, " "); ok && isMessageID(tok) {
		return rest
	}
	return s
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// parseEvent reads "v=1 ev=E ip=A port=P host=H errno=N domain=D data=TEXT".
func parseEvent(at time.Time, body string) (Attempt, Kind) {
	f := map[string]string{}
	for body != "" {
		kv, rest, _ := strings.Cut(body, " ")
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return Attempt{}, Malformed
		}
		if k == "data" {
			v, _ = strings.CutPrefix(body, "data=")
			f[k] = v
			break
		}
		f[k] = v
		body = rest
	}
	if f["v"] != "1" || f["ev"] == "" {
		return Attempt{}, Malformed
	}
	errno, err := strconv.Atoi(f["errno"])
	if err != nil {
		return Attempt{}, Malformed
	}
	a := Attempt{At: at, Event: f["ev"], Host: f["host"], Domain: f["domain"], Address: f["ip"]}
	// Exim sets $host_address for every event but msg:fail:delivery, where
	// it is left over from another address; with the agent's routes $host
	// is the address itself.
	if ip, err := netip.ParseAddr(a.Host); err == nil {
		a.Address = ip.String()
	} else if a.Event == "msg:fail:delivery" {
		return Attempt{}, Skipped
	}
	if _, err := netip.ParseAddr(a.Address); err != nil {
		return Attempt{}, Skipped
	}
	return fromEvent(a, errno, f["data"])
}

func fromEvent(a Attempt, errno int, data string) (Attempt, Kind) {
	switch a.Event {
	case "msg:delivery":
		a.Outcome, a.Stage = apigen.Success, apigen.Data
		a.Code, a.Status = replyCode(data)
		return a, Reported
	case "msg:host:defer", "msg:rcpt:host:defer", "msg:fail:delivery":
		if a.Event == "msg:host:defer" && messageLevel(data) {
			return Attempt{}, Skipped // Exim's own H= line reports it
		}
		a.Outcome = apigen.Failure
		var ok bool
		if a.Stage, a.Code, a.Status, ok = describe(data, errno); !ok {
			return Attempt{}, Skipped
		}
		return a, Reported
	}
	return Attempt{}, Skipped
}

// parseHostLine reads Exim's own "H=name [ip]:port: text" (write_logs in
// the smtp transport) and keeps only the message-level failures.
func parseHostLine(at time.Time, s string) (Attempt, Kind) {
	m := hostLine.FindStringSubmatch(s)
	if m == nil {
		return Attempt{}, Other
	}
	ip, err := netip.ParseAddr(m[2])
	if err != nil || !messageLevel(m[3]) {
		return Attempt{}, Skipped
	}
	a := Attempt{At: at, Event: "log", Host: m[1], Address: ip.String(), Outcome: apigen.Failure}
	var ok bool
	if a.Stage, a.Code, a.Status, ok = describe(m[3], 0); !ok {
		return Attempt{}, Skipped
	}
	return a, Reported
}

var hostLine = regexp.MustCompile(`^H=(\S+) \[([0-9A-Fa-f.:]+)\](?::\d+)?: (.*)$`)

// messageLevel is true for the failures Exim treats as the message's, not
// the host's (smtp_deliver's message_error: a 4xx or timeout after MAIL, a
// 4xx after DATA, a 4xx, timeout or lost connection after the final dot).
// Exim logs an H= line for these at every host but raises msg:host:defer
// for none, so the H= line reports them; every other host failure raises
// msg:host:defer, which reports it.
func messageLevel(text string) bool {
	if cmd, ok := strings.CutPrefix(text, "SMTP error from remote mail server after "); ok {
		cmd = strings.TrimPrefix(cmd, "pipelined ")
		return hasAnyPrefix(cmd, "MAIL FROM", "DATA", "BDAT", "end of data")
	}
	if cmd, ok := strings.CutPrefix(text, "SMTP timeout after "); ok {
		cmd = strings.TrimPrefix(cmd, "pipelined ")
		return hasAnyPrefix(cmd, "MAIL FROM", "end of data")
	}
	if cmd, ok := strings.CutPrefix(text, "Remote host closed connection in response to "); ok {
		return strings.HasPrefix(strings.TrimPrefix(cmd, "pipelined "), "end of data")
	}
	return false
}

// describe finds the stage, reply code and enhanced status in the text
// Exim builds for a failed attempt (check_response and friends in
// src/transports/smtp.c). ok is false for text that is not about an SMTP
// conversation, such as "retry timeout exceeded".
func describe(text string, errno int) (stage apigen.ReportStage, code int, status string, ok bool) {
	for _, p := range []string{
		"SMTP error from remote mail server after ",
		"SMTP timeout after ",
		"Remote host closed connection in response to ",
		"Malformed SMTP reply (an empty line) in response to ",
		"Malformed SMTP reply in response to ",
	} {
		if cmd, found := strings.CutPrefix(text, p); found {
			stage, ok = stageOf(strings.TrimPrefix(cmd, "pipelined "))
			if p == "SMTP error from remote mail server after " {
				if i := replyAt.FindStringIndex(cmd); i != nil {
					code, status = replyCode(cmd[i[0]+2:])
				}
			} else if m := ehloReply.FindStringSubmatch(cmd); m != nil {
				// After a failed EHLO Exim tries HELO and, when that fails
				// too, names the EHLO reply in parentheses.
				code, status = replyCode(m[1])
			}
			return stage, code, status, ok
		}
	}
	switch {
	case errno == errnoTLSFailure || hasAnyPrefix(text, "TLS session", "TLS error", "(tls"):
		return apigen.Tls, 0, "", true
	case strings.HasPrefix(text, "smtp send to "):
		// A write failed after the session was set up; Exim does not say
		// which command it was writing.
		return apigen.Mail, 0, "", true
	case errno > 0 || errno == errnoConnectTimeout:
		return apigen.Connect, 0, "", true
	}
	return "", 0, "", false
}

// replyAt finds ": NNN" where the reply starts after the command, which
// may itself contain colons (RCPT TO:<a@b>).
var replyAt = regexp.MustCompile(`: [2-5][0-9][0-9](?:[ -]|$)`)

var ehloReply = regexp.MustCompile(`\(EHLO response was: ([2-5][0-9][0-9].*)\)$`)

func stageOf(cmd string) (apigen.ReportStage, bool) {
	switch {
	case strings.HasPrefix(cmd, "initial connection"):
		return apigen.Greeting, true
	case hasAnyPrefix(cmd, "EHLO", "HELO", "LHLO", "AUTH"):
		return apigen.Ehlo, true
	case strings.HasPrefix(cmd, "STARTTLS"):
		return apigen.Tls, true
	case strings.HasPrefix(cmd, "MAIL FROM"):
		return apigen.Mail, true
	case strings.HasPrefix(cmd, "RCPT TO"):
		return apigen.Rcpt, true
	case hasAnyPrefix(cmd, "DATA", "BDAT", "end of data"):
		return apigen.Data, true
	}
	return "", false
}

var enhanced = regexp.MustCompile(`^[245]\.[0-9]{1,3}\.[0-9]{1,3}\b`)

// replyCode reads "NNN[ -]x.y.z text". A code outside the contract's
// 200..599 is no SMTP reply a report may carry (the whole batch would be
// refused): it is read as none.
func replyCode(reply string) (int, string) {
	if len(reply) < 3 || !isDigits(reply[:3]) {
		return 0, ""
	}
	code, _ := strconv.Atoi(reply[:3])
	if code < 200 || code > 599 {
		return 0, ""
	}
	rest := strings.TrimLeft(reply[3:], " -")
	return code, enhanced.FindString(rest)
}

func hasAnyPrefix(s string, prefixes ...string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
