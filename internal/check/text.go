package check

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteText writes the report for a terminal: verdict, layout, the MX table
// with reverse DNS, the findings and the recommendation. It returns the
// first write error.
func (r Report) WriteText(w io.Writer) error {
	ew := &errWriter{w: w}
	ew.printf("MX check for %s: %s, grade %s\n\n", r.Domain, strings.ToUpper(string(r.Status)), r.Grade)
	ew.printf("Load balancing: %s (%s)\n", r.LoadBalancing, balancingText(r.LoadBalancing))
	f := r.Failover
	ew.printf("Failover:       %s (%d unique address%s in %d prefix%s; a sender tries up to %d)\n",
		f.Class, len(f.UniqueAddresses), plural(len(f.UniqueAddresses) == 1, "", "es"),
		f.UniquePrefixes, plural(f.UniquePrefixes == 1, "", "es"), f.EffectiveDepth)

	if len(r.MX) > 0 {
		ew.printf("\n")
		tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "PREF\tHOST\tTTL\tADDRESS\tPTR")
		for _, m := range r.MX {
			if len(m.Addresses) == 0 {
				fmt.Fprintf(tw, "%d\t%s\t%d\t-\t\n", m.Preference, m.Host, m.TTL)
				continue
			}
			for i, a := range m.Addresses {
				pref, host, ttl := fmt.Sprint(m.Preference), m.Host, fmt.Sprint(m.TTL)
				if i > 0 {
					pref, host, ttl = "", "", ""
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", pref, host, ttl, a, ptrText(m.PTR, a))
			}
		}
		if err := tw.Flush(); err != nil && ew.err == nil {
			ew.err = err
		}
	}

	if len(r.Findings) > 0 {
		ew.printf("\nFindings:\n")
		for _, fd := range r.Findings {
			ew.printf("  %-7s %s\n", fd.Level, fd.Code)
			ew.printf("%s", indentWrap(fd.Message, "          ", 78))
		}
	}
	ew.printf("\nRecommendation:\n")
	for _, line := range strings.Split(r.Recommendation, "\n") {
		if strings.HasPrefix(line, "  ") {
			ew.printf("    %s\n", strings.TrimSpace(line))
			continue
		}
		ew.printf("%s", indentWrap(line, "  ", 78))
	}
	return ew.err
}

func balancingText(b Balancing) string {
	switch b {
	case BalancingStrong:
		return "several MX names at the lowest preference, with their own addresses"
	case BalancingWeak:
		return "several addresses at the lowest preference, but shared between MX names"
	default:
		return "one address at the lowest preference"
	}
}

func ptrText(ptrs []PTR, addr string) string {
	for _, p := range ptrs {
		if p.Address != addr {
			continue
		}
		if len(p.Names) == 0 {
			return "(none)"
		}
		if p.ForwardConfirmed {
			return strings.Join(p.Names, ", ") + " (confirmed)"
		}
		return strings.Join(p.Names, ", ") + " (not confirmed)"
	}
	return "(not checked)"
}

// indentWrap wraps text at width columns, each line prefixed by indent.
func indentWrap(text, indent string, width int) string {
	var b strings.Builder
	line := indent
	for _, word := range strings.Fields(text) {
		if len(line) > len(indent) && len(line)+1+len(word) > width {
			b.WriteString(line + "\n")
			line = indent
		}
		if len(line) > len(indent) {
			line += " "
		}
		line += word
	}
	b.WriteString(line + "\n")
	return b.String()
}

// errWriter keeps the first write error so the text can be written without
// checking every call.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	if err != nil {
		e.err = fmt.Errorf("write check report: %w", err)
	}
	return n, err
}

func (e *errWriter) printf(format string, args ...any) {
	_, _ = fmt.Fprintf(e, format, args...)
}
