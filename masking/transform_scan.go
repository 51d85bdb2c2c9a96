package masking

import (
	"bytes"
	"github.com/consentry/consentry/detect"
	"math"
	"strconv"
)

// scan runs Detect over a string's decoded text or a number's text and
// replaces each finding by the action Params.Findings names for its class
// (redact when absent). Text without findings is appended unchanged.
//
// Actions on a finding inside text: redact writes a label such as [email];
// hash writes the hex HMAC of the finding normalized for its class (so an
// email or phone found in text hashes like the field hashed with normalize
// email/phone); tokenize writes the token of the finding as a JSON string;
// mask masks it; generalize coarsens IP addresses and labels the rest; drop
// removes it; keep leaves it.
//
// A number with a finding (14155550123) is replaced whole: redact gives 0,
// drop drops the member, keep keeps it, and the other actions give a string.
//
// found, when not nil, receives each finding replaced (or dropped with its
// number).
//
// looked: the caller's quick reject (scanKeeps) already failed on raw.
func (t *Transformer) scan(dst []byte, p *Params, raw []byte, typ ValueType, found *[]Finding, looked bool) (out []byte, drop bool, count int, err error) {
	if typ == TypeString && !looked {
		// Most scanned values are short words (models, locales, event
		// names) that no detector could start on: decided before any
		// setup. A JSON escape needs decoding first: the full path.
		if s := raw[1 : len(raw)-1]; bytes.IndexByte(s, '\\') < 0 && detect.Clean(s, p.Detect) {
			return append(dst, raw...), false, 0, nil
		}
	}
	return t.scanValue(dst, p, raw, typ, found)
}

// scanValue is scan past the quick reject.
func (t *Transformer) scanValue(dst []byte, p *Params, raw []byte, typ ValueType, found *[]Finding) (out []byte, drop bool, count int, err error) {
	var text []byte
	var sc *scratch
	defer func() {
		if sc != nil {
			t.put(sc)
		}
	}()
	switch typ {
	case TypeString:
		if s := raw[1 : len(raw)-1]; bytes.IndexByte(s, '\\') < 0 {
			text = s
		} else {
			sc = t.get()
			if text, err = decodeString(&sc.text, raw); err != nil {
				return dst, true, 0, err
			}
		}
	case TypeNumber:
		text = raw
		if hasFraction(raw) {
			// 14155550123.0 and 4.155550123E9 (Android's org.json writes
			// doubles so) are the same phone as 14155550123.
			sc = t.get()
			if d, ok := integralDigits(sc.text[:0], raw); ok {
				sc.text = d
				text = d
			}
		}
	default:
		return append(dst, raw...), false, 0, nil
	}
	var fb [8]Finding
	var finds []Finding
	vtext := text // where the findings' values live (percent-decoded text)
	if typ == TypeString && detect.HasEscape(text) {
		if sc == nil {
			sc = t.get()
		}
		finds, vtext = sc.det.Find(fb[:0], text, p.Detect)
	} else {
		finds = detect.Find(fb[:0], text, p.Detect)
	}
	if len(finds) == 0 {
		return append(dst, raw...), false, 0, nil
	}
	if sc == nil {
		sc = t.get()
	}
	if typ == TypeNumber {
		out, drop, count, err = t.scanNumber(dst, p, raw, finds, sc)
		if found != nil && count > 0 && err == nil {
			*found = append(*found, finds...)
		}
		return out, drop, count, err
	}
	mark := 0
	if found != nil {
		mark = len(*found)
	}
	n := len(dst)
	dst = append(dst, '"')
	prev := 0
	for _, f := range finds {
		a := findingAction(p, f.Class)
		if a == ActionKeep {
			continue
		}
		dst = appendEscapedBytes(dst, text[prev:f.Start])
		if dst, err = t.appendFinding(dst, p, sc, a, f.Class, vtext[f.VStart:f.VEnd]); err != nil {
			if found != nil {
				*found = (*found)[:mark]
			}
			return dst[:n], true, 0, err
		}
		prev = f.End
		count++
		if found != nil {
			*found = append(*found, f)
		}
	}
	if count == 0 {
		return append(dst[:n], raw...), false, 0, nil
	}
	dst = appendEscapedBytes(dst, text[prev:])
	return append(dst, '"'), false, count, nil
}

// scanNumber replaces a number that holds a finding; the first finding's
// class decides.
func (t *Transformer) scanNumber(dst []byte, p *Params, raw []byte, finds []Finding, sc *scratch) ([]byte, bool, int, error) {
	class := finds[0].Class
	switch findingAction(p, class) {
	case ActionKeep:
		return append(dst, raw...), false, 0, nil
	case ActionDrop:
		return dst, true, len(finds), nil
	case ActionHash:
		sc.norm = normalizeFinding(sc.norm[:0], class, raw)
		dst = append(dst, '"')
		dst = appendHex(dst, t.mac(sc, sc.norm), p.HexLen)
		return append(dst, '"'), false, len(finds), nil
	case ActionTokenize:
		if t.siv == nil {
			return dst, true, 0, ErrNoTokenKey
		}
		dst = append(dst, '"')
		dst = t.appendToken(dst, sc, raw)
		return append(dst, '"'), false, len(finds), nil
	case ActionMask:
		dst = append(dst, '"')
		dst = appendMasked(dst, p, raw)
		return append(dst, '"'), false, len(finds), nil
	}
	return append(dst, '0'), false, len(finds), nil
}

func findingAction(p *Params, class string) Action {
	if a, ok := p.Findings[class]; ok {
		return a
	}
	return ActionRedact
}

// appendFinding appends the replacement of one finding inside a string.
func (t *Transformer) appendFinding(dst []byte, p *Params, sc *scratch, a Action, class string, f []byte) ([]byte, error) {
	switch a {
	case ActionDrop:
		return dst, nil
	case ActionHash:
		sc.norm = normalizeFinding(sc.norm[:0], class, f)
		return appendHex(dst, t.mac(sc, sc.norm), p.HexLen), nil
	case ActionTokenize:
		if t.siv == nil {
			return dst, ErrNoTokenKey
		}
		sc.norm = append(sc.norm[:0], '"')
		sc.norm = appendEscapedBytes(sc.norm, f)
		sc.norm = append(sc.norm, '"')
		return t.appendToken(dst, sc, sc.norm), nil
	case ActionMask:
		return appendMasked(dst, p, f), nil
	case ActionGeneralize:
		if class == ClassIP {
			if d, ok := appendIPPrefix(dst, f, p.IPv4Bits, p.IPv6Bits); ok {
				return d, nil
			}
		}
	}
	return append(dst, findingLabel(class)...), nil
}

// normalizeFinding prepares a finding for hashing so that one value hashes
// the same however it was written: emails lower case, phones and cards
// digits only, IBANs upper case without spaces, ad ids and IPs lower case.
func normalizeFinding(dst []byte, class string, f []byte) []byte {
	switch class {
	case ClassEmail:
		return normalize(dst, "email", f)
	case ClassPhone, ClassCard, ClassSSN:
		return normalize(dst, "phone", f)
	case ClassIBAN:
		for _, c := range f {
			switch {
			case c == ' ':
			case c >= 'a' && c <= 'z':
				dst = append(dst, c-'a'+'A')
			default:
				dst = append(dst, c)
			}
		}
		return dst
	}
	return appendLower(dst, f)
}

// findingLabel is the redaction text of a finding inside a string.
func findingLabel(class string) string {
	switch class {
	case ClassEmail:
		return "[email]"
	case ClassPhone:
		return "[phone]"
	case ClassCard:
		return "[card]"
	case ClassIBAN:
		return "[iban]"
	case ClassSSN:
		return "[ssn]"
	case ClassIP:
		return "[ip]"
	case ClassAdID:
		return "[ad_id]"
	case ClassMAC:
		return "[mac]"
	case ClassName:
		return "[name]"
	case ClassAddress:
		return "[address]"
	case ClassBirthdate:
		return "[birthdate]"
	}
	return DefaultReplacement
}

// integralDigits appends the digits of a number token written with a
// fraction or an exponent when its value is a whole number below 2^53
// (exact in a float64); ok is false otherwise.
func integralDigits(dst, raw []byte) ([]byte, bool) {
	if fractionNonZero(raw) {
		return dst, false // 45.73: no whole number, whatever its size
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) >= 1<<53 {
		return dst, false
	}
	return strconv.AppendInt(dst, int64(f), 10), true
}

// fractionNonZero reports whether the number token raw has no exponent and
// a non-zero digit after its decimal point, so that it is not a whole
// number (integralDigits need not parse it).
func fractionNonZero(raw []byte) bool {
	dot := bytes.IndexByte(raw, '.')
	if dot < 0 || bytes.IndexAny(raw, "eE") >= 0 {
		return false
	}
	for _, c := range raw[dot+1:] {
		if c != '0' {
			return true
		}
	}
	return false
}

func hasFraction(raw []byte) bool {
	for _, c := range raw {
		if c == '.' || c == 'e' || c == 'E' {
			return true
		}
	}
	return false
}
