// Package exim is the Exim side of the mxroute agent.
//
// Routing: Exim's ${readsocket} sends one line with the domain and reads one
// line back. Server answers with a string the configuration in docs/exim.md
// uses as is: a manualroute host list in plan order ("<;[a]:port;[b]:port",
// the list separator changed to ";" so IPv6 addresses need no doubling),
// ":fail: <status> <reason>" or ":defer: <status> <reason>" for a redirect
// router with allow_fail and allow_defer, or "pass" to let the next router
// (Exim's own dnslookup) route the address.
//
// Feedback: the smtp transport's event_action writes one line per event to
// Exim's main log through an ACL's logwrite (see docs/exim.md), and the agent
// follows that log. A log line costs Exim a local file write, survives the
// agent being down or restarted (the follower resumes from its state file),
// and sits next to Exim's own lines, which carry the one kind of attempt Exim
// raises no per-host event for: a 4xx to MAIL, DATA or end of data at a host
// that is not the last one tried. ParseLine reads both kinds of line and the
// rule in messageLevel decides which of the two reports a given failure, so
// every attempt is reported once.
package exim
