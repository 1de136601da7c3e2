package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/mxroute/mxroute/internal/check"
	"github.com/mxroute/mxroute/internal/gather"
	"github.com/mxroute/mxroute/internal/routing"
)

// routeCommand prints the plan for one domain as the service would serve
// it, with every address healthy (the CLI has no fleet view).
func routeCommand(ctx context.Context, cfg *config, args []string, stdout io.Writer) error {
	return withDomain(cfg, "route", args, func(st *dnsStack, domain string) error {
		opts := planOptions(cfg)
		svc, err := gather.New(st.cache, gather.Config{Options: &opts, DANE: st.dane})
		if err != nil {
			return err
		}
		return writePlan(stdout, svc.Plan(ctx, gather.Request{Domain: domain}))
	})
}

// withDomain runs a one-domain command with the configured DNS stack.
func withDomain(cfg *config, cmd string, args []string, f func(st *dnsStack, domain string) error) error {
	domain, err := oneDomain(cmd, args)
	if err != nil {
		return err
	}
	st, err := newDNSStack(cfg, nil, nil)
	if err != nil {
		return err
	}
	defer st.close()
	return f(st, domain)
}

func oneDomain(cmd string, args []string) (string, error) {
	if len(args) != 1 {
		return "", fmt.Errorf("usage: mxroute %s [flags] DOMAIN", cmd)
	}
	d, err := routing.NormalizeDomain(args[0])
	if err != nil {
		return "", err
	}
	return d, nil
}

func writePlan(w io.Writer, p routing.Plan) error {
	fmt.Fprintf(w, "domain       %s\n", p.Domain)
	fmt.Fprintf(w, "disposition  %s (%s)", p.Disposition, p.Reason)
	if p.EnhancedStatus != "" {
		fmt.Fprintf(w, " %s", p.EnhancedStatus)
	}
	fmt.Fprintln(w)
	if p.ImplicitMX {
		fmt.Fprintln(w, "implicit MX  yes (no MX records; the domain's own addresses are used)")
	}
	fmt.Fprintf(w, "ttl          %ds\n", int(p.TTL.Seconds()))
	if p.TLS.Kind != "" && p.TLS.Kind != routing.TLSNone {
		fmt.Fprintf(w, "tls          %s", p.TLS.Kind)
		if p.TLS.STS != nil {
			fmt.Fprintf(w, " (MTA-STS %s, id %s)", p.TLS.STS.Mode, p.TLS.STS.ID)
		}
		fmt.Fprintln(w)
	}
	if len(p.Attempts) > 0 {
		fmt.Fprintln(w, "\nattempts, in order:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  #\tPREF\tHOST\tADDRESS\tFAMILY\tSTATE\tTLS")
		for i, a := range p.Attempts {
			fmt.Fprintf(tw, "  %d\t%d\t%s\t%s\t%s\t%s\t%s\n", i+1, a.Preference, a.Host, a.Address, a.Family, a.State, attemptTLS(a))
		}
		tw.Flush()
	}
	if len(p.Skipped) > 0 {
		fmt.Fprintln(w, "\nskipped:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  PREF\tHOST\tADDRESS\tREASON")
		for _, s := range p.Skipped {
			addr := "-"
			if s.Address.IsValid() {
				addr = s.Address.String()
			}
			fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\n", s.Preference, s.Host, addr, s.Reason)
		}
		tw.Flush()
	}
	if len(p.Warnings) > 0 {
		fmt.Fprintln(w, "\nwarnings:")
		for _, wr := range p.Warnings {
			fmt.Fprintf(w, "  %s: %s\n", wr.Code, strings.TrimSpace(wr.Message))
		}
	}
	return nil
}

// attemptTLS says what TLS an attempt requires: DANE with its TLSA
// records (usage selector type), verified TLS, or nothing ("-").
func attemptTLS(a routing.Attempt) string {
	switch {
	case a.DANE:
		recs := make([]string, len(a.TLSA))
		for i, r := range a.TLSA {
			recs[i] = fmt.Sprintf("%d %d %d", r.Usage, r.Selector, r.MatchingType)
		}
		return "dane [" + strings.Join(recs, ", ") + "]"
	case a.TLSRequired:
		return "required " + strings.Join(a.TLSNames, ",")
	}
	return "-"
}

// checkCommand grades one domain's MX layout for a terminal.
func checkCommand(ctx context.Context, cfg *config, args []string, stdout io.Writer) error {
	return withDomain(cfg, "check", args, func(st *dnsStack, domain string) error {
		opts := planOptions(cfg)
		rep, err := check.Run(ctx, st.client, domain, checkOptions(st, &opts, nil, nil))
		if err != nil {
			return fmt.Errorf("check %s: %w", domain, err)
		}
		return rep.WriteText(stdout)
	})
}
