package clevertap

import "github.com/consentry/consentry/formats"

// SDKIDCarriers are the records in which SDK batches (/a1) carry a person's
// identity (a profile record's profile.Identity) or, device true, the
// CleverTap GUID (the meta header's "g"). A policy may rewrite them
// differently from REST uploads (policy_data.fields by path).
func SDKIDCarriers(device bool) []formats.IDCarrier {
	if device {
		return []formats.IDCarrier{{Format: FormatSDK, Kind: "meta", Prefix: `{"type":"meta","g":`, Suffix: `}`, Path: "g", Classifier: Classifier{}, Header: true}}
	}
	return []formats.IDCarrier{{Format: FormatSDK, Kind: "profile", Prefix: `{"type":"profile","profile":{"Identity":`, Suffix: `}}`, Path: "profile.Identity", Classifier: Classifier{}}}
}

// SubjectIDs appends every value under which CleverTap may hold a subject
// (an identity, or a device = CleverTap GUID when device is true), as JSON
// tokens: the identifier translated as REST uploads carry it ("identity",
// "objectId") and as SDK batches carry it (profile.Identity, the header's
// "g"), each as a string and, for a numeric identifier, as a number.
// What /1/delete/profiles.json must name. Nothing is appended when the
// policy removes the identifier from all of them.
func SubjectIDs(dst [][]byte, env *formats.Env, device bool, id []byte) ([][]byte, error) {
	if err := checkID(id); err != nil {
		return dst, err
	}
	s := slotIdentity
	if device {
		s = slotObjectID
	}
	first := len(dst)
	tr := newTranslator(env)
	for _, raw := range formats.IDTokens(id) {
		v, ok, err := tr.translate(nil, s, raw)
		if err != nil {
			if raw[0] != '"' && formats.AsError(err).Code == "invalid_number" {
				continue // no upload could carry this number
			}
			return dst, err
		}
		if ok {
			dst = formats.AppendDistinct(dst, first, v)
		}
	}
	sdk, err := env.TranslateIDs(nil, SDKIDCarriers(device), id)
	if err != nil {
		return dst, err
	}
	for _, v := range sdk {
		dst = formats.AppendDistinct(dst, first, v)
	}
	return dst, nil
}
