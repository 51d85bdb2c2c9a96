// Package detect finds personal data in free text: emails, phone numbers,
// payment cards, IBANs, US SSNs, IP and MAC addresses, advertising ids and,
// behind cue phrases, person names, street addresses and birth dates.
//
// Every detector is three parts: a fast candidate finder (one left-to-right
// byte pass, no regular expressions), a validator (checksums, ranges,
// net/netip, libphonenumber for phones) and context rules (hotwords before
// and after the candidate, id prefixes glued to it). The table in
// detectors.md lists what each detector finds and what it must not.
//
// The hot path (text without findings, and findings that need no phone
// validation) does not allocate; phone validation results are cached by a
// keyed hash of the digits, never by the digits themselves.
package detect

import (
	"bytes"
	"unicode"
	"unicode/utf8"
)

// Detector classes, the vocabulary of Finding.Class and of the policy's
// scan "findings" parameter.
const (
	ClassEmail     = "contact.email"
	ClassPhone     = "contact.phone"
	ClassCard      = "payment.card"
	ClassIBAN      = "finance.iban"
	ClassSSN       = "id.ssn"
	ClassIP        = "net.ip"
	ClassMAC       = "net.mac"
	ClassAdID      = "device.ad_id"
	ClassName      = "person.name"
	ClassAddress   = "person.address"
	ClassBirthdate = "person.birthdate"
)

// Classes lists every class Find reports.
var Classes = []string{ClassEmail, ClassPhone, ClassCard, ClassIBAN, ClassSSN, ClassIP, ClassMAC,
	ClassAdID, ClassName, ClassAddress, ClassBirthdate}

// KnownClass reports whether c is one of Classes.
func KnownClass(c string) bool {
	for _, k := range Classes {
		if k == c {
			return true
		}
	}
	return false
}

// Finding is one detector match.
type Finding struct {
	Class string
	// Rule names the detector rule that decided ("phone.intl",
	// "ad_id.hotword", "name.intro", ...); Cue is the context word that
	// decided, or "" when the value decided on its own. Both are static
	// strings (no allocation) for audit and explain.
	Rule, Cue string
	// Start and End delimit the match in the scanned text s.
	Start, End int
	// VStart and VEnd delimit the match's value in the text Scanner.Find
	// returns: the same as Start and End unless s was percent-decoded.
	VStart, VEnd int
}

// Detect appends to dst the findings in s under the default options,
// without percent-decoding. It does not allocate unless dst must grow (or a
// phone candidate is validated for the first time).
func Detect(dst []Finding, s []byte) []Finding {
	return find(dst, s, Default)
}

// Scanner holds the working memory of Find (the percent-decoded text and
// its offset map). The zero value is ready; a Scanner is not safe for
// concurrent use, pool it.
type Scanner struct {
	buf []byte
	pos []int32
}

// Find appends to dst the findings in s, in order and without overlaps,
// and returns the text the findings' values live in (VStart, VEnd): s
// itself, or s percent-decoded when s holds %XX escapes (then '+' is a
// space too when s has no spaces, as in a form-encoded query). o nil means
// Default.
func (sc *Scanner) Find(dst []Finding, s []byte, o *Options) ([]Finding, []byte) {
	if o == nil {
		o = Default
	}
	if !hasEscape(s) {
		return find(dst, s, o), s
	}
	t, pos := sc.decode(s)
	n := len(dst)
	dst = find(dst, t, o)
	for i := n; i < len(dst); i++ {
		f := &dst[i]
		f.Start, f.End = int(pos[f.VStart]), int(pos[f.VEnd])
	}
	return dst, t
}

// hasEscape reports whether s holds a percent escape (%XX).
func hasEscape(s []byte) bool {
	for {
		k := bytes.IndexByte(s, '%')
		if k < 0 || k+2 >= len(s) {
			return false
		}
		if isHex(s[k+1]) && isHex(s[k+2]) {
			return true
		}
		s = s[k+1:]
	}
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// decode percent-decodes s into sc.buf; pos[k] is the offset in s where
// decoded byte k starts, pos[len] = len(s).
func (sc *Scanner) decode(s []byte) ([]byte, []int32) {
	plus := bytes.IndexByte(s, ' ') < 0
	b, pos := sc.buf[:0], sc.pos[:0]
	for i := 0; i < len(s); {
		c := s[i]
		pos = append(pos, int32(i))
		switch {
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 3
			continue
		case c == '+' && plus:
			c = ' '
		}
		b = append(b, c)
		i++
	}
	pos = append(pos, int32(len(s)))
	sc.buf, sc.pos = b, pos
	return b, pos
}

// MayHold is a quick reject for the identifier detectors: each needs a
// digit, an '@' (email), a ':' (IPv6, MAC) or a non-ASCII byte (fullwidth
// '@'); most short texts (names, models, locales) have none.
func MayHold(s []byte) bool {
	ids, _ := byteClasses(s)
	return ids
}

// Clean reports whether Find and Scanner.Find certainly find nothing in s
// under o (nil: Default): s has no percent escape, no byte an identifier
// detector starts from, and no sentence for the text detectors. It is the
// quick reject of find, without its setup, for callers that scan many
// short values (model names, locales, event names). false means "look".
func Clean(s []byte, o *Options) bool {
	if o == nil {
		o = Default
	}
	ids, text := byteClasses(s)
	if ids || text && o.Text && textCandidate(s) {
		return false
	}
	return !hasEscape(s)
}

// find runs the detectors over t; positions are offsets in t.
//
// One pass, left to right. Emails are anchored on '@' (found with a SIMD
// byte search) and win over anything inside them. Every other identifier
// detector starts only at a token boundary (the previous byte is not a
// letter or digit) and, at one start, they are tried in this order: MAC,
// ad id (UUID), IPv6, IBAN, payment card, SSN, IPv4, phone. So a card is
// never reported as a phone and an invalid SSN is not rescued as a phone.
// Then, when o.Text is set, the cue-gated text detectors (names, street
// addresses, birth dates) add findings that overlap none of the above.
func find(dst []Finding, t []byte, o *Options) []Finding {
	n0 := len(dst)
	ids, text := byteClasses(t)
	if ids {
		dst = findIDs(dst, t, o)
	}
	if text && o.Text && textCandidate(t) {
		dst = findText(dst, n0, t, o)
	}
	return dst
}

func findIDs(dst []Finding, s []byte, o *Options) []Finding {
	es, ee := nextEmail(s, 0)
	boundary := true
	for i := 0; i < len(s); {
		if i == es {
			dst = append(dst, Finding{Class: ClassEmail, Rule: "email", Start: es, End: ee, VStart: es, VEnd: ee})
			i = ee
			boundary = false // an email ends with a TLD letter
			es, ee = nextEmail(s, ee)
			continue
		}
		c := s[i]
		if boundary && charClass[c]&cStart != 0 {
			if f := matchAt(s, i, o); f.End > i && (es < 0 || f.End <= es) {
				f.Start, f.VStart, f.VEnd = i, i, f.End
				dst = append(dst, f)
				i = f.End
				boundary = charClass[s[f.End-1]]&cAlnum == 0
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
// cost a few comparisons. It returns a Finding with End > i, or End 0.
func matchAt(s []byte, i int, o *Options) Finding {
	c := s[i]
	cl := charClass[c]
	if cl&cHex != 0 {
		if i+12 <= len(s) {
			if e, rule, cue := matchMAC(s, i, o); e > 0 {
				return Finding{Class: ClassMAC, Rule: rule, Cue: cue, End: e}
			}
		}
	}
	if cl&cHex != 0 || c == ':' {
		if i+36 <= len(s) && s[i+8] == '-' {
			if e, rule, cue := matchAdID(s, i, o); e > 0 {
				return Finding{Class: ClassAdID, Rule: rule, Cue: cue, End: e}
			}
		}
		if colonSoon(s, i) {
			if e := matchIPv6(s, i); e > 0 {
				if neg, cue := vetoed(s, i, e, bIP, o); !neg {
					return Finding{Class: ClassIP, Rule: "ip.v6", Cue: cue, End: e}
				}
			}
		}
	}
	if cl&cLetter != 0 {
		if i+15 <= len(s) && isDigit(s[i+2]) && isDigit(s[i+3]) {
			if e := matchIBAN(s, i); e > 0 {
				return Finding{Class: ClassIBAN, Rule: "iban.mod97", End: e}
			}
		}
		return Finding{}
	}
	if cl&cDigit != 0 {
		if digitJoined(s, i) {
			return Finding{}
		}
		long := digitsAhead(s, i, 13)
		if long {
			if e := matchCard(s, i); e > 0 {
				if e-i == 13 && gtinOK(s[i:e]) {
					// a bare 13-digit run with a GS1 check digit is an
					// EAN-13 unless a card word says otherwise
					if v, _ := o.context(s, i, e, bCard); v <= 0 {
						return Finding{}
					}
				}
				if neg, _ := vetoed(s, i, e, bCard, o); !neg {
					return Finding{Class: ClassCard, Rule: "card.luhn", End: e}
				}
				return Finding{}
			}
		}
		if e := matchSSN(s, i); e > 0 {
			if neg, cue := vetoed(s, i, e, bSSN, o); !neg {
				return Finding{Class: ClassSSN, Rule: "ssn.range", Cue: cue, End: e}
			}
			return Finding{}
		}
		if e := matchIPv4(s, i); e > 0 {
			if neg, cue := vetoed(s, i, e, bIP, o); !neg {
				return Finding{Class: ClassIP, Rule: "ip.v4", Cue: cue, End: e}
			}
			return Finding{}
		}
		if !long && !digitsAhead(s, i, 7) {
			return Finding{}
		}
	}
	if cl&cDigit != 0 || (c == '+' || c == '(') && digitsAhead(s, i, 7) {
		if f := matchPhone(s, i, o); f.End > 0 {
			f.Class = ClassPhone
			return f
		}
	}
	return Finding{}
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
// phone and card punctuation (space - . / ( ) +) between them, within
// 3*need bytes (which bounds the work per start: no finding is that sparse).
func digitsAhead(s []byte, i, need int) bool {
	end := min(len(s), i+3*need)
	for k := i; k < end; k++ {
		switch c := s[k]; {
		case isDigit(c):
			need--
			if need == 0 {
				return true
			}
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')' || c == '+' || c == '/':
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
	cLocal              // email local part: A-Z a-z 0-9 . _ % + - '
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

func digitsOnly(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}

func atoi(b []byte) int {
	v := 0
	for _, c := range b {
		v = v*10 + int(c-'0')
	}
	return v
}

// ---- email ----

// fullwidthAt is U+FF20 FULLWIDTH COMMERCIAL AT, written for '@' in CJK text.
var fullwidthAt = []byte("\uff20")

// nextAt returns the index and byte length of the next '@' or '＠' at or
// after from, or -1.
func nextAt(s []byte, from int) (int, int) {
	k := bytes.IndexByte(s[from:], '@')
	if bytes.IndexByte(s[from:], 0xEF) >= 0 {
		if f := bytes.Index(s[from:], fullwidthAt); f >= 0 && (k < 0 || f < k) {
			return from + f, len(fullwidthAt)
		}
	}
	if k < 0 {
		return -1, 0
	}
	return from + k, 1
}

// localRune reports whether r may be part of an internationalized local
// part or domain label (RFC 6531): a letter, digit or combining mark.
func localRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r)
}

// nextEmail finds the first valid email whose '@' is at or after from and
// whose local part starts at or after from; it returns -1, -1 when there is
// none.
//
// Rules (RFC 5322 dot-atom, with UTF-8 as in RFC 6531/6532): local part of
// [A-Za-z0-9._%+-'] and Unicode letters, digits and marks, at most 64
// bytes (a longer run keeps its last 64), no leading, trailing or double
// dot; '@' or the fullwidth '＠'; domain of at least two labels of
// [A-Za-z0-9-] and Unicode letters/digits (1-63 bytes, no hyphen at either
// end), at most 253 bytes; the last label (TLD) is ASCII letters (2+), an
// A-label ("xn--p1ai") or Unicode letters ("рф", "中国"). A trailing dot
// ends the sentence, not the domain.
func nextEmail(s []byte, from int) (int, int) {
	for from < len(s) {
		at, al := nextAt(s, from)
		if at < 0 {
			return -1, -1
		}
		ls := at
		for ls > from {
			c := s[ls-1]
			if c < 0x80 {
				if charClass[c]&cLocal == 0 {
					break
				}
				ls--
				continue
			}
			r, n := utf8.DecodeLastRune(s[from:ls])
			if r == utf8.RuneError || !localRune(r) {
				break
			}
			ls -= n
		}
		if at-ls > 64 {
			ls = at - 64
			for ls < at && !utf8.RuneStart(s[ls]) {
				ls++
			}
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
			if end := emailDomainEnd(s, at+al); end > 0 {
				return ls, end
			}
		}
		from = at + al
	}
	return -1, -1
}

// emailDomainEnd returns the end of the longest valid domain at s[j:], or -1.
func emailDomainEnd(s []byte, j int) int {
	start, labels, good := j, 0, -1
	for j < len(s) && j-start <= 253 {
		ls := j
		letters, ascii := true, true
		for j < len(s) {
			c := s[j]
			if c < 0x80 {
				if !isAlnum(c) && c != '-' {
					break
				}
				if charClass[c]&cLetter == 0 {
					letters = false
				}
				j++
				continue
			}
			r, n := utf8.DecodeRune(s[j:])
			if r == utf8.RuneError || !localRune(r) {
				break
			}
			if !unicode.IsLetter(r) {
				letters = false
			}
			ascii = false
			j += n
		}
		if j == ls || j-ls > 63 || s[ls] == '-' || s[j-1] == '-' {
			break
		}
		labels++
		label := s[ls:j]
		tld := letters && (ascii && j-ls >= 2 || !ascii && utf8.RuneCount(label) >= 2) ||
			ascii && len(label) >= 5 && (label[0] == 'x' || label[0] == 'X') && (label[1] == 'n' || label[1] == 'N') && label[2] == '-' && label[3] == '-'
		if labels >= 2 && tld && j-start <= 253 {
			good = j
		}
		if j+1 < len(s) && s[j] == '.' && (isAlnum(s[j+1]) || s[j+1] >= 0x80) {
			j++
			continue
		}
		break
	}
	return good
}

// Find appends to dst the findings in s under o (nil: Default) without
// percent-decoding; VStart/VEnd equal Start/End.
func Find(dst []Finding, s []byte, o *Options) []Finding {
	if o == nil {
		o = Default
	}
	return find(dst, s, o)
}

// HasEscape reports whether s holds a percent escape (%XX), in which case
// Scanner.Find decodes it before detecting.
func HasEscape(s []byte) bool { return hasEscape(s) }
