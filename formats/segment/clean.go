package segment

import (
	"github.com/consentry/consentry/formats"
	"github.com/consentry/consentry/formats/vendorkit"
	"github.com/consentry/consentry/masking"
)

// Format names, as policies see them in input.format.
const (
	FormatSegment     = "segment"
	FormatRudderStack = "rudderstack"
)

// Kinds are the message types of the Segment spec; each is a record kind.
var Kinds = []string{"identify", "track", "page", "screen", "group", "alias"}

func knownKind(k string) bool {
	for _, x := range Kinds {
		if x == k {
			return true
		}
	}
	return false
}

// batchBody is the body of the batch paths.
var batchBody = vendorkit.Envelope{Name: "batch body", Array: "batch", Items: "messages", Item: "batch message", Credentials: []string{"writeKey"}}

// CleanBatch cleans a /v1/batch body {"batch":[messages], ...} for format
// and appends the result to dst: the other top-level keys first, cleaned as
// one "meta" header, then the kept messages in order.
func CleanBatch(dst, body []byte, env *formats.Env, format string) ([]byte, formats.Result, error) {
	var res formats.Result
	out, ok, err := batchBody.Clean(dst, body, env, format, Classifier{}, func(dst, raw []byte, idx int) ([]byte, bool, error) {
		if _, err := env.Rewriter.Parse(raw, 0); err != nil {
			return dst, false, err
		}
		p := vendorkit.Parsed{RW: env.Rewriter}
		kind := p.Str(0, "type")
		if !knownKind(kind) {
			return dst, false, formats.Errorf(400, "invalid_payload", "batch message %d has no known \"type\" (want one of identify, track, page, screen, group, alias)", idx)
		}
		subj, err := subject(p, kind)
		if err != nil {
			return dst, false, err
		}
		return env.CleanParsed(dst, format, Classifier{}, subj, formats.Signals{}, &res)
	})
	if err == nil && !ok {
		err = batchBody.Missing()
	}
	if err != nil {
		return dst, res, err
	}
	res.AllDropped = res.RecordsIn > 0 && res.RecordsOut == 0
	return out, res, nil
}

// CleanMessage cleans the body of a single-message path (/v1/track, ...):
// one message whose kind is the path's. A "type" in the body that names
// another kind is refused, so that the policy never plans for one kind while
// the vendor stores another.
func CleanMessage(dst, body []byte, env *formats.Env, format, kind string) ([]byte, formats.Result, error) {
	var res formats.Result
	end, err := env.Rewriter.Parse(body, 0)
	if err != nil {
		return dst, res, err
	}
	if masking.SkipSpace(body, end) != len(body) {
		return dst, res, formats.Errorf(400, "malformed_json", "trailing data after the message")
	}
	p := vendorkit.Parsed{RW: env.Rewriter}
	if t := p.Node(0, "type"); t >= 0 && p.Str(0, "type") != kind {
		return dst, res, formats.Errorf(400, "invalid_payload", "message \"type\" is not %q, the kind this path accepts", kind)
	}
	subj, err := subject(p, kind)
	if err != nil {
		return dst, res, err
	}
	out, kept, err := env.CleanParsed(dst, format, Classifier{}, subj, formats.Signals{}, &res)
	if err != nil {
		return dst, res, err
	}
	res.AllDropped = !kept
	return out, res, nil
}

// subject reads a message's data subject and event name from the parsed
// message, and refuses a second, different writeKey.
func subject(p vendorkit.Parsed, kind string) (formats.Subject, error) {
	s := formats.Subject{Kind: kind}
	var err error
	if s.Identity, err = p.ID(0, "userId"); err != nil {
		return s, err
	}
	if s.Device, err = p.ID(0, "anonymousId"); err != nil {
		return s, err
	}
	switch kind {
	case "track":
		s.Name = p.Str(0, "event")
	case "page", "screen":
		s.Name = p.Str(0, "name")
	}
	return s, p.Unique(0, "writeKey")
}
