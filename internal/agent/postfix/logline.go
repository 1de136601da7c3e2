package postfix

import (
	"bytes"
	"strconv"
	"time"
)

// header is the syslog prefix of a Postfix log line.
type header struct {
	at   time.Time
	prog string // e.g. "postfix/smtp", "postfix-out/smtp"
	pid  int
	text string // after "prog[pid]: "
}

// parseHeader splits a line written by postlogd (maillog_file) or by a
// syslog daemon, in either the traditional "Mmm dd hh:mm:ss host" form or
// the RFC 3339 "2006-01-02T15:04:05.000000+00:00 host" form. Traditional
// stamps carry no year or zone: they are read in loc, in the year that
// puts them no more than a day after now (so December lines read in
// January belong to last year).
func parseHeader(line []byte, now time.Time, loc *time.Location) (header, bool) {
	var h header
	var rest []byte
	if len(line) > 20 && line[4] == '-' && line[10] == 'T' {
		sp := bytes.IndexByte(line, ' ')
		if sp < 0 {
			return h, false
		}
		t, err := time.Parse(time.RFC3339Nano, string(line[:sp]))
		if err != nil {
			return h, false
		}
		h.at, rest = t, line[sp+1:]
	} else {
		if len(line) < 16 || line[3] != ' ' || line[6] != ' ' || line[9] != ':' || line[12] != ':' || line[15] != ' ' {
			return h, false
		}
		t, ok := traditionalStamp(line[:15], now, loc)
		if !ok {
			return h, false
		}
		h.at, rest = t, line[16:]
	}
	// host
	sp := bytes.IndexByte(rest, ' ')
	if sp < 0 {
		return h, false
	}
	rest = rest[sp+1:]
	// prog[pid]: text
	br := bytes.IndexByte(rest, '[')
	end := bytes.Index(rest, []byte("]: "))
	if br <= 0 || end < br {
		return h, false
	}
	pid, err := strconv.Atoi(string(rest[br+1 : end]))
	if err != nil {
		return h, false
	}
	h.prog, h.pid, h.text = string(rest[:br]), pid, string(rest[end+3:])
	return h, true
}

var months = map[string]time.Month{
	"Jan": time.January, "Feb": time.February, "Mar": time.March, "Apr": time.April,
	"May": time.May, "Jun": time.June, "Jul": time.July, "Aug": time.August,
	"Sep": time.September, "Oct": time.October, "Nov": time.November, "Dec": time.December,
}

func traditionalStamp(b []byte, now time.Time, loc *time.Location) (time.Time, bool) {
	mon, ok := months[string(b[:3])]
	if !ok {
		return time.Time{}, false
	}
	day := atoi2(b[4:6])
	hh, mm, ss := atoi2(b[7:9]), atoi2(b[10:12]), atoi2(b[13:15])
	if day < 1 || day > 31 || hh < 0 || hh > 23 || mm < 0 || mm > 59 || ss < 0 || ss > 60 {
		return time.Time{}, false
	}
	now = now.In(loc)
	t := time.Date(now.Year(), mon, day, hh, mm, ss, 0, loc)
	if t.After(now.Add(24 * time.Hour)) {
		t = t.AddDate(-1, 0, 0)
	}
	return t, true
}

// atoi2 reads two digits, a leading space allowed; -1 when not a number.
func atoi2(b []byte) int {
	n := 0
	for _, c := range b {
		switch {
		case c == ' ' && n == 0:
		case c >= '0' && c <= '9':
			n = n*10 + int(c-'0')
		default:
			return -1
		}
	}
	return n
}
