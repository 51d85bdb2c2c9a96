package clevertap

import (
	"bytes"
	"net/url"
	"strconv"

	"github.com/consentry/consentry/formats"
	"github.com/consentry/consentry/masking"
)

// Access routes: CleverTap's own answers to a right-of-access request
// (vendor-privacy reference: GET /1/profile.json, and the cursor downloads
// /1/profiles.json and /1/events.json). The vendor knows people only by the
// pseudonyms Consentry forwarded, so the identifiers of a request are
// translated as uploads carry them, and the reply is opened for the
// controller by the proxy.
const (
	// ProfilePath downloads one profile by identity, email or objectId.
	ProfilePath = "/1/profile.json"
	// ProfilesPath and EventsPath are the cursor downloads: POST opens a
	// cursor for an event and a date range, GET ?cursor= reads a page.
	ProfilesPath = "/1/profiles.json"
	EventsPath   = "/1/events.json"
	// MaxBatchSize is CleverTap's largest cursor page.
	MaxBatchSize = 5000
)

// ProfileKeys are the query keys of GET /1/profile.json, each with the
// place in an upload record whose translation it takes: identity is the
// record's identity, email the profile's Email property, objectId the
// CleverTap GUID (a device).
var ProfileKeys = []string{"identity", "email", "objectId"}

var accessSlots = map[string]slot{
	"identity": slotIdentity,
	"email":    targetSlots["Email"],
	"objectId": slotObjectID,
}

// AccessRoutes are the access routes. Every one needs the tenant's passcode
// in X-CleverTap-Passcode and, since CleverTap itself holds the passcode,
// the tenant's Consentry access token (the proxy checks both before
// anything is sent, and serves the routes only to tenants that configured
// the token).
func AccessRoutes() []formats.Route {
	route := func(method, path string, a *formats.Access) formats.Route {
		return formats.Route{
			Method:              method,
			Path:                path,
			Format:              FormatREST,
			Accounts:            headerAccounts,
			DropResponseHeaders: redirectHeaders,
			CredentialHeader:    PasscodeHeader,
			Access:              a,
		}
	}
	routes := []formats.Route{route("GET", ProfilePath, &formats.Access{Query: profileQuery})}
	for _, p := range []string{ProfilesPath, EventsPath} {
		routes = append(routes,
			route("POST", p, &formats.Access{Query: openCursorQuery, Body: CursorBody}),
			route("GET", p, &formats.Access{Query: cursorQuery}))
	}
	return routes
}

// errNotForwarded answers a lookup by an identifier the policy never lets
// reach the vendor: CleverTap holds nothing under it.
var errNotForwarded = formats.Errorf(404, "identifier_not_forwarded",
	"the tenant's policy removes this identifier from uploads, so CleverTap holds no profile under it; nothing was sent")

// accessParams parses the query string: each parameter once, only the
// allowed names (and z, the account id the proxy already read).
func accessParams(req formats.Request, allowed ...string) (url.Values, error) {
	q, err := url.ParseQuery(string(req.QueryString()))
	if err != nil {
		return nil, formats.Errorf(400, "invalid_query", "the query string is not valid URL encoding")
	}
	for k, v := range q {
		ok := k == "z"
		for _, a := range allowed {
			ok = ok || k == a
		}
		if !ok {
			return nil, formats.Errorf(400, "unsupported_parameter", "this route takes only the query parameters %v (a parameter Consentry does not know is never forwarded)", allowed)
		}
		if len(v) > 1 {
			return nil, formats.Errorf(400, "invalid_query", "query parameter %s occurs more than once", k)
		}
	}
	return q, nil
}

// profileQuery handles GET /1/profile.json: exactly one of identity,
// email or objectId, translated.
func profileQuery(dst []byte, req formats.Request, env *formats.Env, names map[string][]byte) ([]byte, error) {
	q, err := accessParams(req, ProfileKeys...)
	if err != nil {
		return dst, err
	}
	key := ""
	for _, k := range ProfileKeys {
		if q.Has(k) {
			if key != "" {
				return dst, formats.Errorf(400, "invalid_query", "name the person once: one of identity, email or objectId")
			}
			key = k
		}
	}
	if key == "" {
		return dst, formats.Errorf(400, "invalid_query", "name the person: identity, email or objectId")
	}
	out, ok, err := AppendProfileQuery(dst, env, key, []byte(q.Get(key)), names)
	if err != nil {
		return dst, err
	}
	if !ok {
		return dst, errNotForwarded
	}
	return out, nil
}

// AppendProfileQuery appends the query string of GET /1/profile.json for
// one person named by key (identity, email or objectId) with the value
// translated as uploads carry it. names, if not nil, learns pseudonym →
// identifier. ok is false when the policy removes the identifier from
// uploads: CleverTap never received it. The admin access report uses it
// too.
func AppendProfileQuery(dst []byte, env *formats.Env, key string, id []byte, names map[string][]byte) ([]byte, bool, error) {
	s, known := accessSlots[key]
	if !known {
		return dst, false, formats.Errorf(400, "invalid_query", "a profile is looked up by identity, email or objectId")
	}
	if err := checkID(id); err != nil {
		return dst, false, err
	}
	raw := appendJSONString(nil, id)
	out, ok, err := newTranslator(env).translate(nil, s, raw)
	if err != nil || !ok {
		return dst, false, err
	}
	text := out
	if out[0] == '"' {
		if text, err = masking.AppendUnquote(nil, out); err != nil {
			return dst, false, err
		}
	}
	if names != nil && !bytes.Equal(text, id) {
		names[string(text)] = raw
	}
	dst = append(dst, key...)
	dst = append(dst, '=')
	return append(dst, url.QueryEscape(string(text))...), true, nil
}

// openCursorQuery handles the query of POST /1/profiles.json and
// /1/events.json: batch_size (1 to MaxBatchSize) and app (true|false).
func openCursorQuery(dst []byte, req formats.Request, _ *formats.Env, _ map[string][]byte) ([]byte, error) {
	q, err := accessParams(req, "batch_size", "app")
	if err != nil {
		return dst, err
	}
	if q.Has("batch_size") {
		n, err := strconv.Atoi(q.Get("batch_size"))
		if err != nil || n < 1 || n > MaxBatchSize {
			return dst, formats.Errorf(400, "invalid_query", "batch_size must be an integer from 1 to %d", MaxBatchSize)
		}
		dst = append(dst, "batch_size="...)
		dst = strconv.AppendInt(dst, int64(n), 10)
	}
	if q.Has("app") {
		v := q.Get("app")
		if v != "true" && v != "false" {
			return dst, formats.Errorf(400, "invalid_query", "app must be true or false")
		}
		if len(dst) > 0 {
			dst = append(dst, '&')
		}
		dst = append(dst, "app="+v...)
	}
	return dst, nil
}

// cursorQuery handles GET /1/profiles.json and /1/events.json: cursor,
// passed byte for byte (CleverTap sends cursors already percent-encoded).
func cursorQuery(dst []byte, req formats.Request, _ *formats.Env, _ map[string][]byte) ([]byte, error) {
	if _, err := accessParams(req, "cursor"); err != nil {
		return dst, err
	}
	for rest := req.QueryString(); len(rest) > 0; {
		var part []byte
		part, rest, _ = bytes.Cut(rest, []byte{'&'})
		v, ok := bytes.CutPrefix(part, []byte("cursor="))
		if !ok {
			continue
		}
		if len(v) == 0 || !cursorBytes(v) {
			return dst, formats.Errorf(400, "invalid_query", "cursor must be the opaque value CleverTap returned, unchanged")
		}
		return append(append(dst, "cursor="...), v...), nil
	}
	return dst, formats.Errorf(400, "invalid_query", "a GET on a cursor download needs cursor= (open the cursor with POST first)")
}

func cursorBytes(v []byte) bool {
	for _, c := range v {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || bytes.IndexByte([]byte("%-_.~+/="), c) >= 0) {
			return false
		}
	}
	return true
}

// CursorBody checks the body that opens a cursor download: event_name (a
// string), from and to (yyyymmdd integers). Anything else is refused:
// filters on property values (props, common_profile_properties) would carry
// values Consentry would have to translate, and a filter it does not
// understand could select people it cannot account for.
func CursorBody(dst, body []byte) ([]byte, error) {
	seen := map[string]bool{}
	err := masking.EachMember(body, func(k []byte, start, end int, t masking.ValueType) error {
		key := string(k)
		switch key {
		case "event_name":
			if t != masking.TypeString {
				return formats.Errorf(400, "invalid_payload", "event_name must be a string")
			}
		case "from", "to":
			if t != masking.TypeNumber {
				return formats.Errorf(400, "invalid_payload", "%s must be a yyyymmdd integer", key)
			}
			if n, err := strconv.Atoi(string(body[start:end])); err != nil || n < 19700101 || n > 99991231 {
				return formats.Errorf(400, "invalid_payload", "%s must be a yyyymmdd integer", key)
			}
		default:
			return formats.Errorf(400, "unsupported_query", "Consentry forwards cursor queries with event_name, from and to only: filters on values (props, common_profile_properties) are not supported")
		}
		if seen[key] {
			return formats.Errorf(400, "invalid_payload", "duplicate key %s", key)
		}
		seen[key] = true
		return nil
	})
	if err != nil {
		return dst, err
	}
	if !seen["event_name"] || !seen["from"] || !seen["to"] {
		return dst, formats.Errorf(400, "invalid_payload", "a cursor query needs event_name, from and to")
	}
	return append(dst, body...), nil
}

// AppendSubjectQuery is AppendProfileQuery for the admin access report: an
// identity is looked up by identity, a device (CleverTap GUID) by objectId.
func AppendSubjectQuery(dst []byte, env *formats.Env, device bool, id []byte, names map[string][]byte) ([]byte, bool, error) {
	key := "identity"
	if device {
		key = "objectId"
	}
	return AppendProfileQuery(dst, env, key, id, names)
}

// AccessAuthHeaders authenticate a GET to CleverTap's REST API: the
// account and passcode, no Content-Type (CleverTap's reference says to
// omit it on GET).
func AccessAuthHeaders(account string, passcode []byte) [][2]string {
	return [][2]string{
		{"X-CleverTap-Account-Id", account},
		{"X-CleverTap-Passcode", string(passcode)},
	}
}
