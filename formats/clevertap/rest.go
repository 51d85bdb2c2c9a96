package clevertap

import (
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
	rw := env.Rewriter
	dst = append(dst, `{"d":[`...)
	err := masking.ForEachMember(body, func(key []byte, start int) (int, error) {
		if string(key) != "d" {
			return 0, formats.Errorf(400, "invalid_payload", "unknown top-level key in upload body (only \"d\" is accepted)")
		}
		if seen {
			return 0, formats.Errorf(400, "invalid_payload", "duplicate \"d\" key in upload body")
		}
		seen = true
		if body[start] != '[' {
			return 0, formats.Errorf(400, "invalid_payload", "\"d\" must be an array of records")
		}
		n := 0
		return masking.ScanArray(body, start, func(s int) (int, error) {
			if body[s] != '{' {
				return 0, formats.Errorf(400, "invalid_payload", "record %d is not an object", n)
			}
			n++
			if n > MaxRESTRecords {
				return 0, formats.Errorf(400, "too_many_records", "upload has more than %d records", MaxRESTRecords)
			}
			end, err := rw.Parse(body, s)
			if err != nil {
				return 0, err
			}
			kind := formats.B2S(rw.Value(rw.Lookup(0, "type")))
			if kind == "" {
				return 0, formats.Errorf(400, "invalid_payload", "record %d has no \"type\"", n-1)
			}
			if kind != "event" && kind != "profile" && kind != "token" {
				return 0, formats.Errorf(400, "invalid_payload", "record %d has an unknown \"type\" (want event, profile or token)", n-1)
			}
			subj := formats.Subject{Kind: kind}
			var sig formats.Signals
			for _, k := range [...]string{"identity", "FBID", "GPID"} {
				if id := rw.Lookup(0, k); rw.Type(id) == masking.TypeString || rw.Type(id) == masking.TypeNumber {
					subj.Identity = rw.Value(id)
					break
				}
			}
			if g := rw.Lookup(0, "objectId"); rw.Type(g) == masking.TypeString {
				subj.Device = rw.Value(g)
			}
			switch kind {
			case "event":
				subj.Name = formats.B2S(rw.Value(rw.Lookup(0, "evtName")))
			case "profile":
				sig = profileSignals(rw, rw.Lookup(0, "profileData"))
			}
			subj.System = IsSystem(kind, subj.Name)
			sep := len(dst)
			if dst[len(dst)-1] != '[' {
				dst = append(dst, ',')
			}
			out, kept, err := env.CleanParsed(dst, FormatREST, Classifier{}, subj, sig, &res)
			if err != nil {
				return 0, err
			}
			if kept {
				dst = out
			} else {
				dst = dst[:sep]
			}
			return end, nil
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
