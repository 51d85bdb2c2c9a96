package vendorkit

import (
	"bytes"

	"github.com/consentry/consentry/formats"
	"github.com/consentry/consentry/masking"
)

// Parsed reads fields of the record RW has just parsed. Lookup takes the
// last of duplicate keys, as the vendors' decoders do, so the subject is
// read from the value the vendor will use.
type Parsed struct{ RW *masking.Rewriter }

// Node is the member key of object node obj (0 is the record), or -1.
func (p Parsed) Node(obj int32, key string) int32 {
	if obj < 0 {
		return -1
	}
	return p.RW.Lookup(obj, key)
}

// ID is the value of a string or number member: a subject identifier. An
// object or array there is refused: the rights check could not read it and
// would treat the record as anonymous.
func (p Parsed) ID(obj int32, key string) ([]byte, error) {
	n := p.Node(obj, key)
	switch p.RW.Type(n) {
	case masking.TypeString, masking.TypeNumber:
		return p.RW.Value(n), nil
	case masking.TypeObject, masking.TypeArray:
		return nil, formats.Errorf(400, "invalid_payload", "%q must be a string", key)
	}
	return nil, nil
}

// Str is the value of a string member as a string view, or "".
func (p Parsed) Str(obj int32, key string) string {
	n := p.Node(obj, key)
	if p.RW.Type(n) != masking.TypeString {
		return ""
	}
	return formats.B2S(p.RW.Value(n))
}

// Unique refuses an object whose credential key occurs twice with different
// values: Accounts reads the first, the vendor the last.
func (p Parsed) Unique(obj int32, key string) error {
	var first []byte
	var err error
	p.RW.Children(obj, func(k []byte, child int32) {
		if string(k) != key || err != nil {
			return
		}
		v := p.RW.Raw(child)
		if first != nil && !bytes.Equal(first, v) {
			err = formats.Errorf(400, "duplicate_key", "a record has two different %q values", key)
		}
		first = v
	})
	return err
}
