package handlers

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/mxroute/mxroute/internal/apigen"
	"github.com/mxroute/mxroute/internal/feedback"
)

// hostListResponse is a /hosts page as ListHosts200JSONResponse would send
// it, written straight from feedback.HostPage: the generated response
// copies every status into apigen.HostStatus (a pointer per optional
// field) and encodes through encoding/json's reflection, time.Time's
// MarshalJSON and a buffer grown in steps, which for a page of 1000 was
// half the handler's CPU and most of its garbage. The bytes are the same
// as the generated response's (FuzzHostListBytes); strings that are not
// plain printable ASCII are left to encoding/json (appendString).
type hostListResponse struct {
	page feedback.HostPage
}

var _ apigen.ListHostsResponseObject = hostListResponse{}

// hostJSONSize is about what one listed address takes, to size the buffer
// once.
const hostJSONSize = 256

// VisitListHostsResponse writes the page as a 200 application/json answer.
func (r hostListResponse) VisitListHostsResponse(w http.ResponseWriter) error {
	b := r.appendJSON(make([]byte, 0, 128+hostJSONSize*len(r.page.Hosts)))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("write host list: %w", err)
	}
	return nil
}

// appendJSON appends what json.NewEncoder(w).Encode of the apigen.HostList
// would write, trailing newline included, fields in apigen's order.
func (r hostListResponse) appendJSON(b []byte) []byte {
	b = append(b, `{"drain_limit":`...)
	b = strconv.AppendInt(b, int64(r.page.DrainLimit), 10)
	b = append(b, `,"drained":`...)
	b = strconv.AppendInt(b, int64(r.page.Drained), 10)
	b = append(b, `,"hosts":`...)
	b = appendList(b, r.page.Hosts, appendHostStatus)
	if r.page.Next.IsValid() {
		b = appendField(b, `,"next_cursor":`, encodeCursor(r.page.Next))
	}
	return append(b, "}\n"...)
}

// appendHostStatus appends one address as hostJSON's apigen.HostStatus
// encodes.
func appendHostStatus(b []byte, st feedback.HostStatus) []byte {
	b = append(b, `{"address":"`...)
	b = st.Address.AppendTo(b)
	b = append(b, `","demotions":`...)
	b = strconv.AppendInt(b, int64(st.Demotions), 10)
	if st.DrainReason != "" {
		b = appendField(b, `,"drain_reason":`, st.DrainReason)
	}
	if f := st.LastFailure; f != nil {
		b = appendFailure(append(b, `,"last_failure":`...), f)
	}
	b = append(b, `,"recent_failures":`...)
	b = strconv.AppendInt(b, int64(st.RecentFailures), 10)
	b = append(b, `,"recent_successes":`...)
	b = strconv.AppendInt(b, int64(st.RecentSuccesses), 10)
	b = append(b, `,"reporters":`...)
	b = strconv.AppendInt(b, int64(st.Reporters), 10)
	b = appendField(b, `,"state":`, string(st.State))
	if !st.Until.IsZero() {
		b = appendTime(append(b, `,"until":`...), st.Until)
	}
	b = append(b, `,"votes":`...)
	b = appendList(b, st.Votes, appendString)
	return append(b, '}')
}

func appendFailure(b []byte, f *feedback.FailureDetail) []byte {
	b = appendTime(append(b, `{"at":`...), f.At)
	if f.Domain != "" {
		b = appendField(b, `,"domain":`, f.Domain)
	}
	if f.EnhancedCode != "" {
		b = appendField(b, `,"enhanced_code":`, f.EnhancedCode)
	}
	if f.Host != "" {
		b = appendField(b, `,"host":`, f.Host)
	}
	b = appendField(b, `,"reporter":`, f.Reporter)
	if f.SMTPCode != 0 {
		b = append(b, `,"smtp_code":`...)
		b = strconv.AppendInt(b, int64(f.SMTPCode), 10)
	}
	b = appendField(b, `,"stage":`, string(f.Stage))
	return append(b, '}')
}

// appendTime appends t in UTC as time.Time's MarshalJSON writes it.
func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}
