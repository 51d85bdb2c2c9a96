package masking

import "bytes"

// Detector classes, the vocabulary of Finding.Class and Params.Findings.
const (
	ClassEmail = "contact.email"
	ClassPhone = "contact.phone"
	ClassCard  = "payment.card"
	ClassIBAN  = "finance.iban"
	ClassSSN   = "id.ssn"
	ClassIP    = "net.ip"
	ClassAdID  = "device.ad_id"
)

// DetectorClasses lists every class Detect reports.
var DetectorClasses = []string{ClassEmail, ClassPhone, ClassCard, ClassIBAN, ClassSSN, ClassIP, ClassAdID}

func knownClass(c string) bool {
	for _, k := range DetectorClasses {
		if k == c {
			return true
		}
	}
	return false
}

// Finding is one detector match: text[Start:End] of the scanned text.
type Finding struct {
	Class      string
	Start, End int
}

// Detect appends to dst the findings in s in order, without overlaps. Every
// candidate is validated (checksums, ranges, net/netip) before it counts.
//
// One pass, left to right. Emails are anchored on '@' (found with a SIMD
// byte search) and win over anything inside them. Every other detector
// starts only at a token boundary (the previous byte is not a letter or
// digit) and, at one start, they are tried in this order: ad id (UUID),
// IPv6, IBAN, payment card, SSN, IPv4, phone. So a card is never reported as
// a phone and an invalid SSN is not rescued as a phone. See the match
// functions for each detector's rules and false-positive guards.
//
// Detect does not allocate unless dst must grow.
func Detect(dst []Finding, s []byte) []Finding {
	if !mayHoldFinding(s) {
		return dst
	}
	es, ee := nextEmail(s, 0)
	boundary := true
	for i := 0; i < len(s); {
		if i == es {
			dst = append(dst, Finding{Class: ClassEmail, Start: es, End: ee})
			i = ee
			boundary = false // an email ends with a TLD letter
			es, ee = nextEmail(s, ee)
			continue
		}
		c := s[i]
		if boundary && charClass[c]&cStart != 0 {
			if end, class := matchAt(s, i); end > i && (es < 0 || end <= es) {
				dst = append(dst, Finding{Class: class, Start: i, End: end})
				i = end
				boundary = charClass[s[end-1]]&cAlnum == 0
				continue
			}
		}
		boundary = charClass[c]&cAlnum == 0
		i++
	}
	return dst
}

// matchAt tries the detectors that may start at s[i] (a token boundary).
// Cheap shape tests run first so that ordinary words and small numbers
// cost a few comparisons.
func matchAt(s []byte, i int) (int, string) {
	c := s[i]
	cl := charClass[c]
	if cl&cHex != 0 || c == ':' {
		if i+36 <= len(s) && s[i+8] == '-' {
			if e := matchUUID(s, i); e > 0 {
				return e, ClassAdID
			}
		}
		if colonSoon(s, i) {
			if e := matchIPv6(s, i); e > 0 {
				return e, ClassIP
			}
		}
	}
	if cl&cLetter != 0 {
		if i+15 <= len(s) && isDigit(s[i+2]) && isDigit(s[i+3]) {
			if e := matchIBAN(s, i); e > 0 {
				return e, ClassIBAN
			}
		}
		return 0, ""
	}
	if cl&cDigit != 0 {
		if digitJoined(s, i) {
			return 0, ""
		}
		long := digitsAhead(s, i, 13)
		if long {
			if e := matchCard(s, i); e > 0 {
				return e, ClassCard
			}
		}
		if e := matchSSN(s, i); e > 0 {
			return e, ClassSSN
		}
		if e := matchIPv4(s, i); e > 0 {
			return e, ClassIP
		}
		if !long && !digitsAhead(s, i, 8) {
			return 0, ""
		}
	}
	if cl&cDigit != 0 || (c == '+' || c == '(') && digitsAhead(s, i, 8) {
		if e := matchPhone(s, i); e > 0 {
			return e, ClassPhone
		}
	}
	return 0, ""
}

// colonSoon: an IPv6 address has a ':' within its first five bytes.
func colonSoon(s []byte, i int) bool {
	for k := i; k < len(s) && k-i <= 4; k++ {
		if s[k] == ':' {
			return true
		}
		if !isHex(s[k]) {
			return false
		}
	}
	return false
}

// digitsAhead reports whether at least need digits follow s[i] with only
// phone and card punctuation (space - . ( ) +) between them, within 3*need
// bytes (which bounds the work per start: no finding is that sparse).
func digitsAhead(s []byte, i, need int) bool {
	end := min(len(s), i+3*need)
	for k := i; k < end; k++ {
		switch c := s[k]; {
		case isDigit(c):
			need--
			if need == 0 {
				return true
			}
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')' || c == '+':
		default:
			return false
		}
	}
	return false
}

// Byte classes.
const (
	cDigit  = 1 << iota // 0-9
	cLetter             // A-Z a-z
	cHex                // 0-9 A-F a-f
	cLocal              // email local part: A-Z a-z 0-9 . _ % + - ' and UTF-8
	cJoin               // . , - / : join digits into one token ("1.5", "2024-03")
	cStart              // may start a finding: letters, digits, + ( :
	cAlnum  = cDigit | cLetter
)

var charClass = func() (t [256]uint8) {
	for c := '0'; c <= '9'; c++ {
		t[c] |= cDigit | cHex | cLocal | cStart
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] |= cLetter | cLocal | cStart
		t[c-'a'+'A'] |= cLetter | cLocal | cStart
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] |= cHex
		t[c-'a'+'A'] |= cHex
	}
	for _, c := range "._%+-'" {
		t[c] |= cLocal
	}
	for c := 0x80; c < 0x100; c++ {
		t[c] |= cLocal // UTF-8 in internationalized addresses (RFC 6531)
	}
	for _, c := range ".,-/:" {
		t[c] |= cJoin
	}
	for _, c := range "+(:" {
		t[c] |= cStart
	}
	return t
}()

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isAlnum(c byte) bool { return charClass[c]&cAlnum != 0 }
func isHex(c byte) bool   { return charClass[c]&cHex != 0 }

// digitJoined reports whether the digit at s[i] continues a numeric token
// through a joiner ("3.14", "2024-03", "12/05", "10:30"), in which case no
// digit detector may start there.
func digitJoined(s []byte, i int) bool {
	return i >= 2 && charClass[s[i-1]]&cJoin != 0 && isDigit(s[i-2])
}

// digitEndOK reports whether a numeric finding may end at s[end]: not
// followed by a letter or digit, nor by a joiner and a digit.
func digitEndOK(s []byte, end int) bool {
	if end >= len(s) {
		return true
	}
	c := s[end]
	if charClass[c]&cAlnum != 0 {
		return false
	}
	return !(charClass[c]&cJoin != 0 && end+1 < len(s) && isDigit(s[end+1]))
}

// ---- email ----

// nextEmail finds the first valid email whose '@' is at or after from and
// whose local part starts at or after from; it returns -1, -1 when there is
// none.
//
// Rules (RFC 5322 dot-atom, with UTF-8 as in RFC 6531): local part of
// [A-Za-z0-9._%+-'] and non-ASCII bytes, at most 64 bytes (a longer run
// keeps its last 64), no leading, trailing or double dot; domain of at least
// two labels of [A-Za-z0-9-] and non-ASCII bytes (1-63 bytes, no hyphen at
// either end), at most 253 bytes, the last label (TLD) ASCII letters only and
// at least 2 long. A trailing dot ends the sentence, not the domain.
func nextEmail(s []byte, from int) (int, int) {
	for from < len(s) {
		k := bytes.IndexByte(s[from:], '@')
		if k < 0 {
			return -1, -1
		}
		at := from + k
		ls := at
		for ls > from && charClass[s[ls-1]]&cLocal != 0 {
			ls--
		}
		if at-ls > 64 {
			ls = at - 64
		}
		for ls < at && s[ls] == '.' {
			ls++
		}
		for x := at - 1; x > ls; x-- {
			if s[x] == '.' && s[x-1] == '.' {
				ls = x + 1
				break
			}
		}
		if ls < at && s[at-1] != '.' {
			if end := emailDomainEnd(s, at+1); end > 0 {
				return ls, end
			}
		}
		from = at + 1
	}
	return -1, -1
}

// emailDomainEnd returns the end of the longest valid domain at s[j:], or -1.
func emailDomainEnd(s []byte, j int) int {
	start, labels, good := j, 0, -1
	for j < len(s) && j-start <= 253 {
		ls := j
		letters := true
		for j < len(s) && (isAlnum(s[j]) || s[j] == '-' || s[j] >= 0x80) {
			if charClass[s[j]]&cLetter == 0 {
				letters = false
			}
			j++
		}
		if j == ls || j-ls > 63 || s[ls] == '-' || s[j-1] == '-' {
			break
		}
		labels++
		if labels >= 2 && letters && j-ls >= 2 && j-start <= 253 {
			good = j
		}
		if j+1 < len(s) && s[j] == '.' && isAlnum(s[j+1]) {
			j++
			continue
		}
		break
	}
	return good
}

// ---- advertising ids ----

// matchUUID: 8-4-4-4-12 hex digits with hyphens, either case, not the
// all-zero id (the "limit ad tracking" value, which identifies no one).
// The 32-hex form without hyphens (Android's GoogleAdID in "af", CleverTap
// "__g" device ids) is NOT detected in text: it cannot be told apart from
// hashes, random ids and tokens, and the field classifiers handle those keys.
func matchUUID(s []byte, i int) int {
	if len(s)-i < 36 || s[i+8] != '-' || s[i+13] != '-' || s[i+18] != '-' || s[i+23] != '-' {
		return 0
	}
	if i > 0 && s[i-1] == '-' {
		return 0
	}
	zero := true
	for k := i; k < i+36; k++ {
		switch k - i {
		case 8, 13, 18, 23:
			continue
		}
		if !isHex(s[k]) {
			return 0
		}
		if s[k] != '0' {
			zero = false
		}
	}
	if zero {
		return 0
	}
	if e := i + 36; e < len(s) && (isAlnum(s[e]) || s[e] == '-') {
		return 0
	}
	return i + 36
}

// mayHoldFinding is a quick reject: every detector needs a digit, an '@'
// (email) or a ':' (IPv6), and most short texts (names, models, locales)
// have none.
func mayHoldFinding(s []byte) bool {
	for _, c := range s {
		if c >= '0' && c <= '9' || c == '@' || c == ':' {
			return true
		}
	}
	return false
}
