package formatstest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/consentry/consentry/formats"
)

// Outcome is what the proxy would do with one request.
type Outcome struct {
	Route     string // "METHOD /path"
	Format    string
	Accounts  []string
	Query     string // the query string forwarded
	Body      []byte // the body forwarded
	Res       formats.Result
	Reply     string // the proxy's own reply when every record was dropped
	ReplyType string
	Err       *formats.Error
}

// Serve dispatches req like the proxy: candidates by method and path,
// Detect among several, Accounts, CleanQuery, Clean, Reply when all dropped.
func Serve(t testing.TB, routes []formats.Route, req *Request, env *formats.Env) Outcome {
	t.Helper()
	var cands []*formats.Route
	for i := range routes {
		if routes[i].Method == req.Method && routes[i].Path == req.Path {
			cands = append(cands, &routes[i])
		}
	}
	o := Outcome{Route: req.Method + " " + req.Path}
	if len(cands) == 0 {
		o.Err = formats.Errorf(404, "unknown_route", "no route")
		return o
	}
	rt := cands[0]
	if len(cands) > 1 {
		rt = nil
		for _, c := range cands {
			if c.Detect == nil || c.Detect(req, req.Body) {
				rt = c
				break
			}
		}
		if rt == nil {
			o.Err = formats.Errorf(400, "unknown_format", "cannot tell which SDK sent this request")
			return o
		}
	}
	o.Format = rt.Format
	for _, a := range rt.Accounts(nil, req, req.Body) {
		o.Accounts = append(o.Accounts, string(a))
	}
	o.Query = req.RawQuery
	var res formats.Result
	if rt.CleanQuery != nil {
		q, r, err := rt.CleanQuery(nil, req, env)
		if err != nil {
			o.Err = formats.AsError(err)
			return o
		}
		o.Query, res = string(q), r
	}
	if rt.Clean != nil {
		out, r, err := rt.Clean(nil, req.Body, env)
		if err != nil {
			o.Err = formats.AsError(err)
			return o
		}
		o.Body = out
		res = formats.Result{
			RecordsIn: res.RecordsIn + r.RecordsIn, RecordsOut: res.RecordsOut + r.RecordsOut,
			Suppressed: res.Suppressed + r.Suppressed, PolicyDropped: res.PolicyDropped + r.PolicyDropped,
			AllDropped: (res.AllDropped || res.RecordsIn == 0) && (r.AllDropped || r.RecordsIn == 0) && res.RecordsIn+r.RecordsIn > 0,
		}
	}
	o.Res = res
	if res.AllDropped {
		reply, ct := rt.Reply(nil, req, res)
		o.Reply, o.ReplyType = string(reply), ct
	}
	return o
}

// Text renders an outcome for a golden file.
func (o *Outcome) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "route: %s\nformat: %s\naccounts: %s\n", o.Route, o.Format, strings.Join(o.Accounts, " "))
	if o.Err != nil {
		fmt.Fprintf(&b, "error: %d %s: %s\n", o.Err.Status, o.Err.Code, o.Err.Msg)
		return b.String()
	}
	r := o.Res
	fmt.Fprintf(&b, "result: in=%d out=%d suppressed=%d policy_dropped=%d all_dropped=%v\n",
		r.RecordsIn, r.RecordsOut, r.Suppressed, r.PolicyDropped, r.AllDropped)
	if o.Query != "" {
		fmt.Fprintf(&b, "query: %s\n", o.Query)
	}
	if r.AllDropped {
		fmt.Fprintf(&b, "reply: %s\n%s\n", o.ReplyType, o.Reply)
		return b.String()
	}
	fmt.Fprintf(&b, "body:\n%s\n", o.Body)
	var pretty bytes.Buffer
	if json.Indent(&pretty, o.Body, "", "  ") == nil {
		fmt.Fprintf(&b, "pretty:\n%s\n", pretty.String())
	}
	return b.String()
}
