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

// messageKeys are the members a message's subject and kind are read from.
// writeKey is read only so that pick refuses two different ones.
var messageKeys = [...]string{"type", "userId", "anonymousId", "event", "name", "writeKey"}

const (
	mType = iota
	mUserID
	mAnonymousID
	mEvent
	mName
)

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
	var fields [len(messageKeys)]member
	n := 0
	batch := body[bs:be]
	err = masking.EachElement(batch, func(s, e int, t masking.ValueType) error {
		raw := batch[s:e]
		idx := n
		n++
		if t != masking.TypeObject {
			return formats.Errorf(400, "invalid_payload", "batch message %d is a %s, want an object", idx, t)
		}
		if err := pick(raw, messageKeys[:], fields[:]); err != nil {
			return err
		}
		if err := checkIDs(&fields); err != nil {
			return err
		}
		kind := fields[mType].str()
		if !knownKind(kind) {
			return formats.Errorf(400, "invalid_payload", "batch message %d has no known \"type\" (want one of identify, track, page, screen, group, alias)", idx)
		}
		sep := len(dst)
		if sep > open {
			dst = append(dst, ',')
		}
		out, kept, err := env.Clean(dst, raw, format, Classifier{}, subject(kind, &fields), formats.Signals{}, &res)
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
	var fields [len(messageKeys)]member
	if err := pick(body, messageKeys[:], fields[:]); err != nil {
		return dst, res, err
	}
	if err := checkIDs(&fields); err != nil {
		return dst, res, err
	}
	if fields[mType].ok && fields[mType].str() != kind {
		return dst, res, formats.Errorf(400, "invalid_payload", "message \"type\" is not %q, the kind this path accepts", kind)
	}
	out, kept, err := env.Clean(dst, body, format, Classifier{}, subject(kind, &fields), formats.Signals{}, &res)
	if err != nil {
		return dst, res, err
	}
	res.AllDropped = !kept
	return out, res, nil
}

// checkIDs refuses identifiers the rights check could not read: an object
// or array userId would pass the check as "no identity".
func checkIDs(f *[len(messageKeys)]member) error {
	for _, i := range [...]int{mUserID, mAnonymousID} {
		switch m := f[i]; {
		case !m.ok, m.t == masking.TypeString, m.t == masking.TypeNumber, m.t == masking.TypeNull:
		default:
			return formats.Errorf(400, "invalid_payload", "%q must be a string", messageKeys[i])
		}
	}
	return nil
}

// subject reads a message's data subject and event name.
func subject(kind string, f *[len(messageKeys)]member) formats.Subject {
	s := formats.Subject{
		Kind:     kind,
		Identity: f[mUserID].text(),
		Device:   f[mAnonymousID].text(),
	}
	switch kind {
	case "track":
		s.Name = f[mEvent].str()
	case "page", "screen":
		s.Name = f[mName].str()
	}
	return s
}
