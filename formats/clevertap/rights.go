package clevertap

import (
	"errors"
	"unicode/utf8"

	"github.com/consentry/consentry/formats"
	"github.com/consentry/consentry/masking"
)

// Rights routes: profile deletion and campaigns (clevertap-wire.md §10.2,
// §10.5). They are served under format clevertap.rest, so they use the
// tenant's REST upstream and are translated by the tenant's REST policy.
const (
	// DeletePath is CleverTap's profile deletion endpoint.
	DeletePath = "/1/delete/profiles.json"
	// MaxDeleteValues is CleverTap's limit of identities or guids per
	// deletion call.
	MaxDeleteValues = 100
	// MaxCampaignTargets bounds the targets of one campaign call (CleverTap
	// accepts up to 1000 users per identity-based send).
	MaxCampaignTargets = 1000
	// ActorDeleteAPI is the actor written to the rights log for erasures
	// requested through the proxied deletion endpoint.
	ActorDeleteAPI = "api:" + DeletePath
	// PasscodeHeader carries the account passcode of CleverTap's server API.
	PasscodeHeader = "X-CleverTap-Passcode"
	// maxIDLen matches rights.MaxIdentifierLen.
	maxIDLen = 1024
)

// RightsRoutes are the routes on which Consentry enforces data-subject
// rights on the vendor's own API: the erasure route (the registry suppresses
// the subject before the deletion is forwarded, translated as uploads were)
// and the campaign routes (targets who opted out of the channel are removed,
// the rest translated).
//
// Campaign channels: /1/send/push.json and /1/send/webpush.json → push,
// /1/send/email.json → email, /1/send/sms.json → sms,
// /1/send/whatsapp.json → whatsapp; /1/targets/create.json and
// /1/targets/estimate.json take the channel from the body's target_mode
// (see TargetModeChannel). Only push.json is verified in the reference
// (clevertap-wire.md §10.5); the other send endpoints are listed by
// CleverTap's API clients with the same "to" object. A "to" key Consentry
// does not know is refused, so an unexpected shape fails closed.
func RightsRoutes() []formats.Route {
	routes := []formats.Route{{
		Method:              "POST",
		Path:                DeletePath,
		Format:              FormatREST,
		Accounts:            headerAccounts,
		Clean:               CleanDelete,
		Reply:               deleteReply,
		DropResponseHeaders: redirectHeaders,
		CredentialHeader:    PasscodeHeader,
	}}
	for _, c := range campaignPaths {
		routes = append(routes, formats.Route{
			Method:              "POST",
			Path:                c.path,
			Format:              FormatREST,
			Accounts:            headerAccounts,
			Clean:               campaignCleaner(c.channel, c.estimate),
			Reply:               campaignReply,
			DropResponseHeaders: redirectHeaders,
		})
	}
	return routes
}

// campaignPaths maps each campaign route to its channel; "" takes the
// channel from target_mode.
var campaignPaths = []struct {
	path, channel string
	estimate      bool
}{
	{"/1/send/push.json", "push", false},
	{"/1/send/webpush.json", "push", false},
	{"/1/send/email.json", "email", false},
	{"/1/send/sms.json", "sms", false},
	{"/1/send/whatsapp.json", "whatsapp", false},
	{"/1/targets/create.json", "", false},
	{"/1/targets/estimate.json", "", true},
}

// TargetModeChannel maps a campaign's target_mode to the marketing channel
// whose consent decides who may be reached. Web push counts as push (an
// opt-out of push covers every push). A missing target_mode is push, the
// Targets API's original and default mode. Other modes (in-app, webhooks,
// inbox) have no consent flag in CleverTap's model and are refused.
func TargetModeChannel(mode string) (string, bool) {
	switch mode {
	case "", "push", "webpush":
		return "push", true
	case "email":
		return "email", true
	case "sms":
		return "sms", true
	case "whatsapp":
		return "whatsapp", true
	}
	return "", false
}

// slot is where an identifier sits in a REST upload record, and so how the
// tenant's policy rewrites it there.
type slot struct {
	key     string // the key in the record (or in profileData)
	profile bool   // inside profileData
	device  bool   // a device id (CleverTap GUID) for the registry
}

var (
	slotIdentity = slot{key: "identity"}
	slotObjectID = slot{key: "objectId", device: true}
)

// targetSlots are the keys of a campaign's "to" object. Identity, FBID and
// GPID are top-level identifiers of upload records; objectId is the GUID;
// Email is the profile's Email property, which is what CleverTap matches.
// For the registry every value but objectId is an identity: a subject is
// found by an Email target only if the app uses the email address as its
// identity.
var targetSlots = map[string]slot{
	"Identity": {key: "identity"},
	"objectId": {key: "objectId", device: true},
	"FBID":     {key: "FBID"},
	"GPID":     {key: "GPID"},
	"Email":    {key: "Email", profile: true},
}

// translator rewrites single identifiers as the tenant's policy rewrites
// them in uploads. It reuses its buffers across values.
type translator struct {
	env      *formats.Env
	rec      []byte
	out      []byte
	path     string
	decision masking.Action
	decided  bool
	mrec     masking.Record
}

func newTranslator(env *formats.Env) *translator {
	t := &translator{env: env}
	t.mrec = masking.Record{
		Tenant:      env.Tenant,
		Format:      FormatREST,
		Kind:        "profile",
		Classifier:  Classifier{},
		Planner:     env.Planner,
		Transformer: env.Applier,
		OnPlan:      t.onPlan,
	}
	return t
}

func (t *translator) onPlan(p *masking.Plan) {
	for i, path := range p.Paths {
		if path == t.path && i < len(p.Decisions) {
			t.decision, t.decided = p.Decisions[i].Action, true
		}
	}
}

// translate appends the JSON token raw (a string or a number), rewritten as
// the policy rewrites it at slot s of a REST profile record, to dst. ok is
// false when the policy removes the identifier, or replaces it with a value
// that is not unique to the subject (redact, mask, generalize, a scan that
// found something): the vendor then holds no profile under it, or holds one
// shared by many people, and nothing may be sent for it.
func (t *translator) translate(dst []byte, s slot, raw []byte) ([]byte, bool, error) {
	t.rec = append(t.rec[:0], `{"type":"profile",`...)
	t.path = s.key
	if s.profile {
		t.rec = append(t.rec, `"profileData":{`...)
		t.path = "profileData." + s.key
	}
	t.rec = appendJSONString(t.rec, []byte(s.key))
	t.rec = append(t.rec, ':')
	t.rec = append(t.rec, raw...)
	if s.profile {
		t.rec = append(t.rec, '}')
	}
	t.rec = append(t.rec, '}')

	rw := t.env.Rewriter
	if _, err := rw.Parse(t.rec, 0); err != nil {
		return dst, false, err
	}
	if err := formats.CheckNumbers(t.rec); err != nil {
		return dst, false, err
	}
	st := t.env.Stats
	if st == nil {
		st = &masking.Stats{}
	}
	findings := st.Findings
	t.decided = false
	t.out = rw.Emit(t.out[:0], &t.mrec, st)
	if !t.decided {
		return dst, false, nil // no plan: every field was dropped
	}
	if !formats.Translates(t.decision, st.Findings != findings) {
		return dst, false, nil
	}
	if _, err := rw.Parse(t.out, 0); err != nil {
		return dst, false, err
	}
	n := rw.Lookup(0, s.key)
	if s.profile {
		n = rw.Lookup(rw.Lookup(0, "profileData"), s.key)
	}
	if typ := rw.Type(n); n < 0 || (typ != masking.TypeString && typ != masking.TypeNumber) {
		return dst, false, nil
	}
	return append(dst, rw.Raw(n)...), true, nil
}

// idValue is one identifier of a rights request: its JSON token and its
// decoded text.
type idValue struct {
	raw  []byte
	text []byte
}

// readIDs reads a string, a number, or an array of them (at most limit in
// dst) at body[start:end] into dst. It reports whether the value was an
// array.
func readIDs(dst []idValue, body []byte, start, end int, t masking.ValueType, limit int, what string) ([]idValue, bool, error) {
	one := func(s, e int, t masking.ValueType) error {
		v := idValue{raw: body[s:e]}
		switch t {
		case masking.TypeNumber:
			v.text = v.raw
		case masking.TypeString:
			txt, err := masking.AppendUnquote(nil, v.raw)
			if err != nil {
				return err
			}
			v.text = txt
		default:
			return formats.Errorf(400, "invalid_identifier", "%s values must be strings or numbers", what)
		}
		if err := checkID(v.text); err != nil {
			return formats.Errorf(400, "invalid_identifier", "%s value %d: %s", what, len(dst), err.Msg)
		}
		if len(dst) >= limit {
			return formats.Errorf(400, "too_many_identifiers", "more than %d %s values in one call", limit, what)
		}
		dst = append(dst, v)
		return nil
	}
	if t != masking.TypeArray {
		return dst, false, one(start, end, t)
	}
	n := len(dst)
	err := masking.EachElement(body[start:end], func(s, e int, t masking.ValueType) error {
		return one(start+s, start+e, t)
	})
	if err == nil && len(dst) == n {
		err = formats.Errorf(400, "invalid_payload", "%s is an empty array", what)
	}
	return dst, true, err
}

// checkID applies the admin API's identifier rules (rights.ValidateIdentifier)
// to identifiers given to the vendor API. Messages never quote the value.
func checkID(v []byte) *formats.Error {
	switch {
	case len(v) == 0:
		return formats.Errorf(400, "invalid_identifier", "empty")
	case len(v) > maxIDLen:
		return formats.Errorf(400, "invalid_identifier", "longer than %d bytes", maxIDLen)
	case !utf8.Valid(v):
		return formats.Errorf(400, "invalid_identifier", "not UTF-8")
	}
	for _, r := range string(v) {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return formats.Errorf(400, "invalid_identifier", "contains a control character")
		}
	}
	return nil
}

var errRightsDisabled = formats.Errorf(403, "rights_disabled",
	"the data-subject registry is disabled (rights.disabled): erasure and campaign calls are refused because opt-outs could not be enforced")

var errRightsUnavailable = formats.Errorf(503, "rights_unavailable", "the data-subject registry cannot answer; retry later")

// CleanDelete handles POST /1/delete/profiles.json: body {"identity": v |
// [v...]} or {"guid": v | [v...]}, at most MaxDeleteValues values. Every
// subject is erased in the registry first (durably: it stays suppressed
// even if the upstream call fails), then the body is rewritten with each
// value translated as uploads carry it (identity as the record's
// "identity", guid as its "objectId"). Values the policy removes from
// uploads never reached the vendor and are left out; if none is left, the
// proxy answers success itself.
func CleanDelete(dst, body []byte, env *formats.Env) ([]byte, formats.Result, error) {
	var res formats.Result
	if env.Rights == nil {
		return dst, res, errRightsDisabled
	}
	var (
		key   string
		ids   []idValue
		array bool
	)
	err := masking.EachMember(body, func(k []byte, start, end int, t masking.ValueType) error {
		switch string(k) {
		case "identity", "guid":
		default:
			return formats.Errorf(400, "invalid_payload", "a deletion body has one key, \"identity\" or \"guid\"")
		}
		if key != "" {
			return formats.Errorf(400, "invalid_payload", "give \"identity\" or \"guid\" once, not both")
		}
		key = string(k)
		var err error
		ids, array, err = readIDs(ids, body, start, end, t, MaxDeleteValues, key)
		return err
	})
	if err != nil {
		return dst, res, err
	}
	if key == "" {
		return dst, res, formats.Errorf(400, "invalid_payload", "a deletion body needs \"identity\" or \"guid\"")
	}
	s := slotIdentity
	if key == "guid" {
		s = slotObjectID
	}
	tr := newTranslator(env)
	res.RecordsIn = len(ids)
	dst = append(dst, '{')
	dst = appendJSONString(dst, []byte(key))
	dst = append(dst, ':')
	if array {
		dst = append(dst, '[')
	}
	for _, v := range ids {
		mark := len(dst)
		if res.RecordsOut > 0 {
			dst = append(dst, ',')
		}
		out, ok, err := tr.translate(dst, s, v.raw)
		if err != nil {
			return dst[:0], res, err
		}
		subj := formats.Subject{Identity: v.text, Kind: "profile"}
		if s.device {
			subj = formats.Subject{Device: v.text, Kind: "profile"}
		}
		if err := env.Rights.Erase(env.Tenant, subj, ActorDeleteAPI, ok); err != nil {
			var fe *formats.Error
			if errors.As(err, &fe) {
				return dst[:0], res, err
			}
			return dst[:0], res, errRightsUnavailable
		}
		if !ok {
			dst = dst[:mark]
			res.PolicyDropped++
			continue
		}
		dst = out
		res.RecordsOut++
	}
	if array {
		dst = append(dst, ']')
	}
	res.AllDropped = res.RecordsOut == 0
	return append(dst, '}'), res, nil
}

// AppendDeleteBody appends the body of a deletion request for one subject
// (an identity, or a device = CleverTap GUID when device is true), with the
// identifier translated as uploads carry it. ok is false when the policy
// removes the identifier from uploads: the vendor never received it and
// there is nothing to delete. (Admin erasures use SubjectIDs and package
// erasure, which builds the same body.)
func AppendDeleteBody(dst []byte, env *formats.Env, device bool, id []byte) ([]byte, bool, error) {
	if err := checkID(id); err != nil {
		return dst, false, err
	}
	key, s := "identity", slotIdentity
	if device {
		key, s = "guid", slotObjectID
	}
	mark := len(dst)
	raw := appendJSONString(nil, id)
	dst = append(dst, `{"`...)
	dst = append(dst, key...)
	dst = append(dst, `":`...)
	out, ok, err := newTranslator(env).translate(dst, s, raw)
	if err != nil || !ok {
		return dst[:mark], false, err
	}
	return append(out, '}'), true, nil
}

// DeleteAuthHeaders are the headers that authenticate a REST call to
// CleverTap (clevertap-wire.md §10).
func DeleteAuthHeaders(account string, passcode []byte) [][2]string {
	return [][2]string{
		{"X-CleverTap-Account-Id", account},
		{"X-CleverTap-Passcode", string(passcode)},
		{"Content-Type", "application/json; charset=utf-8"},
	}
}

// deleteReply is the success reply for a deletion Consentry answers itself
// (every value was left out). CleverTap's own reply body is UNVERIFIED
// (clevertap-wire.md §10.2); callers check "status".
func deleteReply(dst []byte, _ formats.Request, _ formats.Result) ([]byte, string) {
	return append(dst, `{"status":"success"}`...), jsonType
}

// campaignReply is CleverTap's reply to an accepted campaign
// (clevertap-wire.md §10.5), for a campaign whose targets were all removed.
func campaignReply(dst []byte, _ formats.Request, _ formats.Result) ([]byte, string) {
	return append(dst, `{"status":"success","message":"Added to queue for processing"}`...), jsonType
}

func campaignCleaner(channel string, estimate bool) func(dst, body []byte, env *formats.Env) ([]byte, formats.Result, error) {
	return func(dst, body []byte, env *formats.Env) ([]byte, formats.Result, error) {
		return CleanCampaign(dst, body, env, channel, estimate)
	}
}

// CleanCampaign filters the targets of a campaign call. channel is the
// marketing channel ("push", "email", "sms", "whatsapp"); "" takes it from
// the body's target_mode (TargetModeChannel). Each value of the "to"
// object's arrays is dropped if the registry does not allow the channel
// for it (opted out, suppressed, revoked consent, or no consent when the
// tenant requires opt-in); the others are translated as uploads carry them
// so that the vendor finds the pseudonymised profiles. Everything outside
// "to" is forwarded byte for byte. If no target is left the proxy answers
// success itself.
//
// A Targets API call without "to" addresses a segment the vendor resolves:
// Consentry cannot filter it, so it is forwarded only if a subject Consentry
// knows nothing about would be allowed on the channel, i.e. not for tenants
// that require marketing opt-in (estimates, which send nothing, always are).
func CleanCampaign(dst, body []byte, env *formats.Env, channel string, estimate bool) ([]byte, formats.Result, error) {
	var res formats.Result
	if env.Rights == nil {
		return dst, res, errRightsDisabled
	}
	toStart, toEnd := -1, -1
	var toType masking.ValueType
	mode, hasMode := "", false // target_mode, read by Targets API routes
	err := masking.EachMember(body, func(k []byte, start, end int, t masking.ValueType) error {
		switch string(k) {
		case "to":
			if toStart >= 0 {
				return formats.Errorf(400, "invalid_payload", "duplicate \"to\" key")
			}
			toStart, toEnd, toType = start, end, t
		case "target_mode":
			if hasMode {
				return formats.Errorf(400, "invalid_payload", "duplicate \"target_mode\" key")
			}
			if t != masking.TypeString {
				return formats.Errorf(400, "invalid_payload", "\"target_mode\" must be a string")
			}
			m, err := masking.AppendUnquote(nil, body[start:end])
			if err != nil {
				return err
			}
			mode, hasMode = string(m), true
		case "estimate_only":
			estimate = estimate || (t == masking.TypeBool && body[start] == 't')
		}
		return nil
	})
	if err != nil {
		return dst, res, err
	}
	targets := channel == ""
	if targets {
		var ok bool
		if channel, ok = TargetModeChannel(mode); !ok {
			return dst, res, formats.Errorf(400, "unsupported_target_mode", "target_mode must be push, webpush, email, sms or whatsapp: Consentry cannot check consent for other modes")
		}
	}
	if toStart < 0 {
		if !targets {
			return dst, res, formats.Errorf(400, "invalid_payload", "a send call needs a \"to\" object naming its targets")
		}
		return cleanSegment(dst, body, env, channel, estimate)
	}
	if toType != masking.TypeObject {
		return dst, res, formats.Errorf(400, "invalid_payload", "\"to\" must be an object of target arrays")
	}

	tr := newTranslator(env)
	var ids []idValue
	seen := map[string]bool{}
	dst = append(dst, body[:toStart]...)
	dst = append(dst, '{')
	nkeys := 0
	err = masking.EachMember(body[toStart:toEnd], func(k []byte, start, end int, t masking.ValueType) error {
		s, ok := targetSlots[string(k)]
		if !ok {
			return formats.Errorf(400, "unsupported_target_key", "\"to\" may hold Identity, objectId, Email, FBID and GPID only")
		}
		if seen[s.key] {
			return formats.Errorf(400, "invalid_payload", "duplicate key in \"to\"")
		}
		seen[s.key] = true
		start, end = toStart+start, toStart+end
		first := len(ids)
		var err error
		if ids, _, err = readIDs(ids, body, start, end, t, MaxCampaignTargets, "to."+s.key); err != nil {
			return err
		}
		mark := len(dst)
		if nkeys > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, k)
		dst = append(dst, ":["...)
		kept := 0
		for _, v := range ids[first:] {
			res.RecordsIn++
			target := formats.CampaignTarget{Identity: v.text}
			if s.device {
				target = formats.CampaignTarget{Device: v.text}
			}
			allowed, err := env.Rights.CampaignAllowed(env.Tenant, target, channel)
			if err != nil {
				return errRightsUnavailable
			}
			if !allowed {
				res.Suppressed++
				continue
			}
			vmark := len(dst)
			if kept > 0 {
				dst = append(dst, ',')
			}
			out, ok, err := tr.translate(dst, s, v.raw)
			if err != nil {
				return err
			}
			if !ok {
				dst = dst[:vmark]
				res.PolicyDropped++
				continue
			}
			dst = out
			kept++
			res.RecordsOut++
		}
		if kept == 0 {
			dst = dst[:mark] // no empty arrays upstream
			return nil
		}
		dst = append(dst, ']')
		nkeys++
		return nil
	})
	if err != nil {
		return dst[:0], res, err
	}
	if res.RecordsIn == 0 {
		return dst[:0], res, formats.Errorf(400, "invalid_payload", "\"to\" names no target")
	}
	dst = append(dst, '}')
	dst = append(dst, body[toEnd:]...)
	res.AllDropped = res.RecordsOut == 0
	return dst, res, nil
}

// cleanSegment handles a campaign without "to": a send call must name its
// targets; a Targets API call addresses a segment the vendor resolves.
func cleanSegment(dst, body []byte, env *formats.Env, channel string, estimate bool) ([]byte, formats.Result, error) {
	var res formats.Result
	if estimate {
		return append(dst, body...), res, nil
	}
	allowed, err := env.Rights.CampaignAllowed(env.Tenant, formats.CampaignTarget{}, channel)
	if err != nil {
		return dst, res, errRightsUnavailable
	}
	if !allowed {
		return dst, res, formats.Errorf(403, "segment_campaign_refused",
			"the tenant requires marketing opt-in (rights.marketing_opt_in_required) and a segment campaign would reach subjects without recorded consent; name the targets in \"to\" (Identity, objectId, ...)")
	}
	return append(dst, body...), res, nil
}
