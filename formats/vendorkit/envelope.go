package vendorkit

import (
	"bytes"

	"github.com/consentry/consentry/formats"
	"github.com/consentry/consentry/masking"
)

// Envelope describes a JSON object body that carries its records in one
// array member (Amplitude's "events", PostHog's and Segment's "batch")
// beside members that describe the request (keys, timestamps, library),
// which are cleaned together as one "meta" header.
type Envelope struct {
	Name  string // the body in error messages: "upload body"
	Array string // the member that holds the records: "events"
	Items string // the records in error messages: "events", "messages"
	Item  string // one record in error messages: "event", "batch message"
	// Credentials are account members (at most four) that may not occur
	// twice with different values: Accounts reads the first, the vendor
	// the last.
	Credentials []string
}

// Split reads the members of body: the span of the records array (-1, -1
// when there is none) and every other member into hdr, in order. A second
// records array, one that is not an array and two different values of a
// credential are refused.
func (e *Envelope) Split(body []byte, hdr *Header) (start, end int, err error) {
	start, end = -1, -1
	var creds [4][]byte
	err = masking.EachMember(body, func(key []byte, s, x int, t masking.ValueType) error {
		if string(key) == e.Array {
			if start >= 0 {
				return formats.Errorf(400, "invalid_payload", "duplicate %q key in %s", e.Array, e.Name)
			}
			if t != masking.TypeArray {
				return formats.Errorf(400, "invalid_payload", "%q must be an array of %s", e.Array, e.Items)
			}
			start, end = s, x
			return nil
		}
		for i, c := range e.Credentials {
			if string(key) != c {
				continue
			}
			if creds[i] != nil && !bytes.Equal(creds[i], body[s:x]) {
				return formats.Errorf(400, "duplicate_key", "%s has two different %q values", e.Name, c)
			}
			creds[i] = body[s:x]
		}
		hdr.Add(key, body[s:x])
		return nil
	})
	return start, end, err
}

// Missing is the error for a body without the records array.
func (e *Envelope) Missing() error {
	return formats.Errorf(400, "invalid_payload", "%s has no %q array", e.Name, e.Array)
}

// Open appends '{', the cleaned header members and the records member's
// key to dst; the caller appends the records array and '}'.
func (e *Envelope) Open(dst []byte, hdr *Header, format string, env *formats.Env, cls masking.Classifier) ([]byte, error) {
	dst = append(dst, '{')
	dst, wrote, err := hdr.Clean(dst, format, env, cls)
	if err != nil {
		return dst, err
	}
	if wrote {
		dst = append(dst, ',')
	}
	dst = append(dst, '"')
	dst = append(dst, e.Array...)
	return append(dst, '"', ':'), nil
}

// Clean cleans body and appends it to dst: '{', the header members cleaned
// as one "meta" record, then the records array with each record cleaned by
// clean (see CleanArray), then '}'. ok is false, and nothing is written,
// when body has no records array. On error dst comes back as it was.
func (e *Envelope) Clean(dst, body []byte, env *formats.Env, format string, cls masking.Classifier, clean func(dst, raw []byte, idx int) ([]byte, bool, error)) (out []byte, ok bool, err error) {
	hdr := GetHeader()
	defer PutHeader(hdr)
	start, end, err := e.Split(body, hdr)
	if err != nil || start < 0 {
		return dst, false, err
	}
	mark := len(dst)
	if dst, err = e.Open(dst, hdr, format, env, cls); err != nil {
		return dst[:mark], false, err
	}
	if dst, err = CleanArray(dst, body[start:end], e.Item, clean); err != nil {
		return dst[:mark], false, err
	}
	return append(dst, '}'), true, nil
}

// CleanArray appends the JSON array arr to dst with each element cleaned by
// clean (which gets the element's index, for its errors), in order. clean
// appends the cleaned element and reports whether it kept it; a dropped
// element leaves no separator behind. Elements must be objects: item names
// them in the error ("event 2 is a string, want an object"). On error dst
// comes back as it was.
func CleanArray(dst, arr []byte, item string, clean func(dst, raw []byte, idx int) ([]byte, bool, error)) ([]byte, error) {
	mark := len(dst)
	dst = append(dst, '[')
	open := len(dst)
	n := 0
	err := masking.EachElement(arr, func(s, e int, t masking.ValueType) error {
		idx := n
		n++
		if t != masking.TypeObject {
			return formats.Errorf(400, "invalid_payload", "%s %d is a %s, want an object", item, idx, t)
		}
		sep := len(dst)
		if sep > open {
			dst = append(dst, ',')
		}
		out, kept, err := clean(dst, arr[s:e], idx)
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
		return dst[:mark], err
	}
	return append(dst, ']'), nil
}
