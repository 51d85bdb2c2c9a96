package clevertap

import "github.com/consentry/consentry/formats"

// SubjectIDs appends the identifier under which CleverTap holds a subject
// (an identity, or a device = CleverTap GUID when device is true), as a
// JSON token translated as REST uploads carry it ("identity", "objectId"):
// what /1/delete/profiles.json must name. Nothing is appended when the
// policy removes the identifier from uploads.
func SubjectIDs(dst [][]byte, env *formats.Env, device bool, id []byte) ([][]byte, error) {
	if err := checkID(id); err != nil {
		return dst, err
	}
	s := slotIdentity
	if device {
		s = slotObjectID
	}
	v, ok, err := newTranslator(env).translate(nil, s, appendJSONString(nil, id))
	if err != nil || !ok {
		return dst, err
	}
	return append(dst, v), nil
}
