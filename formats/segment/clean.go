package segment

import (
	"bytes"

	"github.com/consentry/consentry/formats"
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

// CleanBatch cleans a /v1/batch body {"batch":[messages], ...} for format
// and appends the result to dst: the other top-level keys first, cleaned as
// one "meta" header, then the kept messages in order.
func CleanBatch(dst, body []byte, env *formats.Env, format string) ([]byte, formats.Result, error) {
	var res formats.Result
	hdr := getHeader()
	defer putHeader(hdr)
	bs, be := -1, -1
	var writeKey []byte
	err := masking.EachMember(body, func(key []byte, s, e int, t masking.ValueType) error {
		if string(key) != "batch" {
			if string(key) == "writeKey" {
				// Accounts reads the first one, the vendor the last one.
				if writeKey != nil && !bytes.Equal(writeKey, body[s:e]) {
					return formats.Errorf(400, "duplicate_key", "batch body has two different \"writeKey\" values")
				}
				writeKey = body[s:e]
			}
			hdr.add(key, body[s:e])
			return nil
		}
		if bs >= 0 {
			return formats.Errorf(400, "invalid_payload", "duplicate \"batch\" key in batch body")
		}
		if t != masking.TypeArray {
			return formats.Errorf(400, "invalid_payload", "\"batch\" must be an array of messages")
		}
		bs, be = s, e
		return nil
	})
	if err != nil {
		return dst, res, err
	}
	if bs < 0 {
		return dst, res, formats.Errorf(400, "invalid_payload", "batch body has no \"batch\" array")
	}
	mark := len(dst)
	dst = append(dst, '{')
	dst, wrote, err := hdr.clean(dst, format, env, Classifier{})
	if err != nil {
		return dst[:mark], res, err
	}
	if wrote {
		dst = append(dst, ',')
	}
	dst = append(dst, `"batch":[`...)
	open := len(dst)
	n := 0
	batch := body[bs:be]
	err = masking.EachElement(batch, func(s, e int, t masking.ValueType) error {
		raw := batch[s:e]
		idx := n
		n++
		if t != masking.TypeObject {
			return formats.Errorf(400, "invalid_payload", "batch message %d is a %s, want an object", idx, t)
		}
		if _, err := env.Rewriter.Parse(raw, 0); err != nil {
			return err
		}
		p := parsed{env.Rewriter}
		kind := p.str(0, "type")
		if !knownKind(kind) {
			return formats.Errorf(400, "invalid_payload", "batch message %d has no known \"type\" (want one of identify, track, page, screen, group, alias)", idx)
		}
		subj, err := subject(p, kind)
		if err != nil {
			return err
		}
		sep := len(dst)
		if sep > open {
			dst = append(dst, ',')
		}
		out, kept, err := env.CleanParsed(dst, format, Classifier{}, subj, formats.Signals{}, &res)
		if err != nil {
			return err
		}
		if !kept {
			dst = dst[:sep]
			return nil
		}
		dst = out
		return nil
	})
	if err != nil {
		return dst[:mark], res, err
	}
	res.AllDropped = res.RecordsIn > 0 && res.RecordsOut == 0
	return append(dst, "]}"...), res, nil
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
	p := parsed{env.Rewriter}
	if t := p.node(0, "type"); t >= 0 && p.str(0, "type") != kind {
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
func subject(p parsed, kind string) (formats.Subject, error) {
	s := formats.Subject{Kind: kind}
	var err error
	if s.Identity, err = p.id(0, "userId"); err != nil {
		return s, err
	}
	if s.Device, err = p.id(0, "anonymousId"); err != nil {
		return s, err
	}
	switch kind {
	case "track":
		s.Name = p.str(0, "event")
	case "page", "screen":
		s.Name = p.str(0, "name")
	}
	return s, p.unique(0, "writeKey")
}
