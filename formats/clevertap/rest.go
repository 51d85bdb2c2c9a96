package clevertap

import (
	"github.com/tidwall/gjson"

	"github.com/consentry/consentry/formats"
	"github.com/consentry/consentry/masking"
)

// MaxRESTRecords is CleverTap's limit of records per upload call.
const MaxRESTRecords = 1000

// CleanREST cleans a REST upload body {"d":[records]} and appends the result
// to dst. Unknown top-level keys are refused: nothing is forwarded that was
// not inspected.
func CleanREST(dst, body []byte, env *formats.Env) ([]byte, formats.Result, error) {
	var res formats.Result
	seen := false
	dst = append(dst, `{"d":[`...)
	err := masking.EachMember(body, func(key []byte, start, end int, t masking.ValueType) error {
		if string(key) != "d" {
			return formats.Errorf(400, "invalid_payload", "unknown top-level key in upload body (only \"d\" is accepted)")
		}
		if seen {
			return formats.Errorf(400, "invalid_payload", "duplicate \"d\" key in upload body")
		}
		seen = true
		if t != masking.TypeArray {
			return formats.Errorf(400, "invalid_payload", "\"d\" must be an array of records")
		}
		n := 0
		return masking.EachElement(body[start:end], func(s, e int, t masking.ValueType) error {
			raw := body[start+s : start+e]
			if t != masking.TypeObject {
				return formats.Errorf(400, "invalid_payload", "record %d is a %s, want an object", n, t)
			}
			n++
			if n > MaxRESTRecords {
				return formats.Errorf(400, "too_many_records", "upload has more than %d records", MaxRESTRecords)
			}
			rec := gjson.Parse(formats.B2S(raw))
			kind := rec.Get("type").Str
			if kind == "" {
				return formats.Errorf(400, "invalid_payload", "record %d has no \"type\"", n-1)
			}
			subj := formats.Subject{Kind: kind}
			var sig formats.Signals
			for _, k := range [...]string{"identity", "FBID", "GPID"} {
				if id := rec.Get(k); id.Type == gjson.String || id.Type == gjson.Number {
					subj.Identity = valueBytes(raw, id)
					break
				}
			}
			if g := rec.Get("objectId"); g.Type == gjson.String {
				subj.Device = valueBytes(raw, g)
			}
			switch kind {
			case "event":
				subj.Name = rec.Get("evtName").Str
			case "profile":
				sig = profileSignals(rec.Get("profileData"))
			}
			sep := len(dst)
			if dst[len(dst)-1] != '[' {
				dst = append(dst, ',')
			}
			out, kept, err := env.Clean(dst, raw, FormatREST, Classifier{}, subj, sig, &res)
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
	})
	if err != nil {
		return dst[:0], res, err
	}
	if !seen {
		return dst[:0], res, formats.Errorf(400, "invalid_payload", "upload body has no \"d\" array")
	}
	res.AllDropped = res.RecordsIn > 0 && res.RecordsOut == 0
	return append(dst, "]}"...), res, nil
}

// RESTReply is CleverTap's reply to an upload whose records were all
// dropped by Consentry: success, so that callers do not retry.
func RESTReply(dst []byte, processed int) []byte {
	dst = append(dst, `{"status":"success","processed":`...)
	dst = appendInt(dst, processed)
	return append(dst, `,"unprocessed":[]}`...)
}

// SDKReply is the reply the SDKs accept as success: an empty JSON object.
func SDKReply(dst []byte) []byte { return append(dst, "{}"...) }

func appendInt(dst []byte, n int) []byte {
	if n == 0 {
		return append(dst, '0')
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return append(dst, b[i:]...)
}
