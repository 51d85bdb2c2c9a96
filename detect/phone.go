package detect

import (
	"hash/maphash"
	"sync/atomic"

	"github.com/nyaruka/phonenumbers"
)

const maxPhoneGroups = 16

// matchPhone detects phone numbers; s[i] is '+', '(' or a digit at a token
// boundary.
//
// Candidate (fast scanner): a run of digit groups joined by single
// separators (space, hyphen, dot, slash), with at most one parenthesized
// group of 1-4 digits ("(415)", "(0)"), 8 to 15 digits, optionally an
// extension (" ext. 12", " x12", " Durchwahl 12"). The longest prefix of
// whole groups that passes the shape rules wins, but never a prefix of a
// longer run of the same separator ("4111 1111 1111 1112" is not a phone
// followed by a number). Shape rules reject dates, SSN-shaped 3-2-4,
// amounts in thousands, decimals and versions, and Unix timestamps (see
// phoneShapeOK).
//
// Context: the nearest context word before (or after) the candidate or an
// id prefix glued to it ("ORD-", "INV", "#", "sku", "tracking", "version")
// vetoes; a phone word (call, tel, mobile, whatsapp, Telefon, ...) supports.
//
// Validation (libphonenumber, only for survivors): a number with its own
// prefix ("+44", "0044") must be valid for its country; a national number
// with a trunk prefix ("030/12345678", "0171 1234567") or separators
// ("415-555-0123") must be valid in one of the tenant's regions; a bare
// digit run without a trunk prefix is a phone only as a North American
// number in a NANP region (4155550123, 14155550123) or, with a supporting
// context word, as an international number without '+'. A bare 13-digit
// run starting 978/979 (ISBN) and a bare 12/13-digit run with a valid
// GTIN check digit that is not a mobile number are product codes.
func matchPhone(s []byte, i int, o *Options) Finding {
	var ends, cum, sizes [maxPhoneGroups]int
	var seps [maxPhoneGroups]byte // separator before group g (0 for none)
	var digits [15]byte
	ng, nd := 0, 0
	plus, paren := false, -1
	j := i
	if s[j] == '+' {
		if i > 0 && s[i-1] == '+' || j+1 >= len(s) || s[j+1] < '1' || s[j+1] > '9' {
			return Finding{}
		}
		plus = true
		j++
	}
	if i >= 3 && s[i-1] == ' ' && isDigit(s[i-2]) && isDigit(s[i-3]) {
		return Finding{} // the tail of a longer run of digit groups
	}
	var sep byte
	slashes := 0
	for ng < maxPhoneGroups && j < len(s) {
		start, stop := j, 0
		if s[j] == '(' {
			if paren >= 0 {
				break
			}
			k := j + 1
			for k < len(s) && isDigit(s[k]) && k-j <= 4 {
				k++
			}
			if k == j+1 || k >= len(s) || s[k] != ')' {
				break
			}
			start, stop = j+1, k
			j = k + 1
			paren = ng
		} else {
			if !isDigit(s[j]) {
				break
			}
			k := j
			for k < len(s) && isDigit(s[k]) {
				k++
			}
			start, stop = j, k
			j = k
		}
		size := stop - start
		if nd+size > len(digits) {
			// a longer digit run than any phone: not a phone at all when
			// it continues the same separator
			if ng > 0 && sep == seps[ng-1] || ng == 0 {
				return Finding{}
			}
			break
		}
		copy(digits[nd:], s[start:stop])
		nd += size
		ends[ng], cum[ng], sizes[ng], seps[ng] = j, nd, size, sep
		ng++
		sep = 0
		if j+1 < len(s) && (s[j] == ' ' || s[j] == '-' || s[j] == '.' || s[j] == '/' && slashes == 0) && (isDigit(s[j+1]) || s[j+1] == '(') {
			sep = s[j]
			if sep == '/' {
				slashes++
			}
			j++
			continue
		}
		if j < len(s) && (paren == ng-1 && isDigit(s[j]) || s[j] == '(' && paren < 0) {
			sep = '('
			continue
		}
		break
	}
	for g := ng - 1; g >= 0; g-- {
		n := cum[g]
		if n < 8 {
			break
		}
		if g < ng-1 && seps[g+1] == seps[g] && seps[g] != 0 {
			return Finding{} // a prefix of a longer run of the same grouping
		}
		if !digitEndOK(s, ends[g]) {
			continue
		}
		if !phoneShapeOK(digits[:n], sizes[:g+1], seps[:g+1], plus, paren >= 0 && paren <= g) {
			continue
		}
		end := ends[g]
		return decidePhone(s, i, end, digits[:n], sizes[:g+1], plus, paren >= 0 && paren <= g, o)
	}
	return Finding{}
}

// decidePhone applies context and validation to a candidate s[i:end].
func decidePhone(s []byte, i, end int, d []byte, sizes []int, plus, paren bool, o *Options) Finding {
	v, cue := o.context(s, i, end, bPhone)
	if v < 0 {
		return Finding{}
	}
	k := len(sizes)
	intl00 := !plus && len(d) > 4 && d[0] == '0' && d[1] == '0' && d[2] != '0'
	f := Finding{End: end, Cue: cue}
	if v > 0 {
		f.Rule = "phone.context"
	}
	switch {
	case plus || intl00:
		nat := d
		if intl00 {
			nat = d[2:]
		}
		if valid, _ := phoneValid(nat, ""); !valid {
			return Finding{}
		}
		if f.Rule == "" {
			f.Rule = "phone.intl"
		}
	default:
		if v <= 0 && k > 1 && sizes[0] == 4 && (d[0] == '1' && d[1] == '9' || d[0] == '2' && d[1] == '0') {
			return Finding{} // "2025-000917", "2025 123456": a year-led id
		}
		bare := k == 1 && !paren
		if bare && len(d) == 13 && d[0] == '9' && d[1] == '7' && (d[2] == '8' || d[2] == '9') {
			return Finding{} // ISBN-13
		}
		valid, mobile := false, false
		trunk := d[0] == '0'
		if trunk || !bare || nanpShape(d) {
			for _, r := range o.Regions {
				if valid, mobile = phoneValid(d, r); valid {
					break
				}
			}
		}
		if !valid && len(d) == 11 && nanpShape(d) {
			valid, mobile = phoneValid(d, "") // another NANP country (+1 441 Bermuda)
		}
		if !valid && v > 0 && !trunk {
			valid, mobile = phoneValid(d, "")
		}
		if !valid && v > 0 && trunk {
			// a phone word and a trunk prefix: the tenant's regions did
			// not fit, the common ones may
			for _, r := range fallbackRegions {
				if valid, mobile = phoneValid(d, r); valid {
					break
				}
			}
		}
		if !valid {
			return Finding{}
		}
		if bare && v <= 0 && (len(d) == 12 || len(d) == 13) && gtinOK(d) && !mobile {
			return Finding{} // EAN-13 / UPC-A
		}
		if f.Rule == "" {
			f.Rule = "phone.national"
		}
	}
	f.End = extension(s, end)
	return f
}

// nanpShape: 10 digits NXX NXX XXXX or 11 digits 1 NXX NXX XXXX.
func nanpShape(d []byte) bool {
	switch len(d) {
	case 10:
		return d[0] >= '2' && d[3] >= '2'
	case 11:
		return d[0] == '1' && d[1] >= '2' && d[4] >= '2'
	}
	return false
}

// extension extends a phone that ends at s[end] over an extension
// (" ext. 12", " ext 12", " x12", " #12", ", Durchwahl 12", " poste 12").
func extension(s []byte, end int) int {
	j := end
	if j < len(s) && s[j] == ',' {
		j++
	}
	for j < len(s) && s[j] == ' ' {
		j++
	}
	k := j
	for k < len(s) && charClass[s[k]]&cLetter != 0 {
		k++
	}
	switch string(lowerASCII(s[j:k])) {
	case "ext", "extension", "x", "durchwahl", "dw", "poste", "ext.":
	default:
		if !(k == j && j < len(s) && s[j] == '#') {
			return end
		}
		k++
	}
	if k < len(s) && s[k] == '.' {
		k++
	}
	for k < len(s) && s[k] == ' ' {
		k++
	}
	m := k
	for m < len(s) && isDigit(s[m]) && m-k < 6 {
		m++
	}
	if m == k || !digitEndOK(s, m) {
		return end
	}
	return m
}

// lowerASCII lower-cases a short word into a stack buffer view.
func lowerASCII(b []byte) []byte {
	if len(b) > 12 {
		return nil
	}
	var buf [12]byte
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return buf[:len(b)]
}

// gtinOK checks the GS1 mod-10 check digit (EAN-13, UPC-A, GTIN-14).
func gtinOK(d []byte) bool {
	sum := 0
	for k := len(d) - 2; k >= 0; k-- {
		v := int(d[k] - '0')
		if (len(d)-2-k)%2 == 0 {
			v *= 3
		}
		sum += v
	}
	return (10-sum%10)%10 == int(d[len(d)-1]-'0')
}

func phoneShapeOK(d []byte, sizes []int, seps []byte, plus, paren bool) bool {
	n := len(d)
	if n < 8 || n > 15 {
		return false
	}
	k := len(sizes)
	if plus {
		return true
	}
	if k == 1 && !paren {
		if n < 10 {
			return false
		}
		same := true
		for _, c := range d {
			same = same && c == d[0]
		}
		if same {
			return false
		}
		if d[0] == '1' {
			return n == 11 && d[1] >= '2' && d[4] >= '2'
		}
		return true
	}
	if paren {
		return true
	}
	dots, others := false, false
	for _, c := range seps[1:] {
		if c == '.' {
			dots = true
		} else {
			others = true
		}
	}
	for _, sz := range sizes {
		if sz > 10 {
			return false
		}
	}
	if dots {
		if others || k < 3 {
			return false
		}
		small := true
		for _, sz := range sizes {
			if sz < 2 || sz > 4 {
				return false
			}
			small = small && sz <= 3
		}
		if k == 4 && small {
			return false
		}
	}
	if k == 2 && sizes[0] == 5 && sizes[1] == 4 && seps[1] == '-' {
		return false // ZIP+4
	}
	if k == 3 {
		a, b, c := sizes[0], sizes[1], sizes[2]
		if a == 4 && b == 2 && c == 2 || a == 2 && b == 2 && c == 4 {
			return false
		}
		if a == 3 && b == 2 && c == 4 && seps[1] == '-' && seps[2] == '-' {
			return false
		}
	}
	if k >= 3 && sizes[0] <= 3 {
		thousands := true
		for _, sz := range sizes[1:] {
			thousands = thousands && sz == 3
		}
		if thousands {
			return false
		}
	}
	return true
}

// fallbackRegions are tried for a national number (trunk prefix) next to a
// phone word when none of the tenant's regions accepts it.
var fallbackRegions = []string{"GB", "DE", "FR", "ES", "IT", "NL", "PT", "AT", "CH", "BE", "PL", "SE", "IE", "IN", "BR", "AU"}

// ---- validation ----

// The validation cache: direct-mapped, lock-free, keyed by a seeded hash
// of (region, digits); an entry holds the hash with the verdict in its low
// bits, so no number is kept in memory. A collision (2^-61) can at worst
// reuse another number's verdict.
var (
	phoneSeed  = maphash.Comparable(maphash.MakeSeed(), 0) | 1 // random per process
	phoneCache [1 << 12]atomic.Uint64
)

// phoneHash is a seeded multiplicative hash of the region and the digits
// (at most 17 bytes: cheaper than a general hash on the hot path).
func phoneHash(region string, d []byte) uint64 {
	h := phoneSeed
	for i := 0; i < len(region); i++ {
		h = (h ^ uint64(region[i])) * 0x100000001b3
	}
	h = (h ^ '|') * 0x100000001b3
	for _, c := range d {
		h = (h ^ uint64(c)) * 0x100000001b3
	}
	h ^= h >> 29
	h *= 0xbf58476d1ce4e5b9
	return h ^ h>>32
}

const (
	pvInvalid = 1
	pvValid   = 2
	pvMobile  = 3
)

// phoneValid reports whether the digits are a valid number: international
// (country code first) when region is "", else national in region. mobile
// is true for mobile numbers (and fixed-or-mobile).
func phoneValid(d []byte, region string) (valid, mobile bool) {
	h := phoneHash(region, d)
	slot := &phoneCache[h%uint64(len(phoneCache))]
	if e := slot.Load(); e&^7 == h&^7 && e&7 != 0 {
		return e&7 >= pvValid, e&7 == pvMobile
	}
	verdict := uint64(pvInvalid)
	var num phonenumbers.PhoneNumber
	text, r := string(d), region
	if region == "" {
		text, r = "+"+text, "ZZ"
	}
	if err := phonenumbers.ParseToNumber(text, r, &num); err == nil {
		ok := phonenumbers.IsValidNumber(&num)
		if ok && region != "" {
			ok = phonenumbers.IsValidNumberForRegion(&num, region)
		}
		if ok {
			verdict = pvValid
			switch phonenumbers.GetNumberType(&num) {
			case phonenumbers.MOBILE, phonenumbers.FIXED_LINE_OR_MOBILE:
				verdict = pvMobile
			}
		}
	}
	slot.Store(h&^7 | verdict)
	return verdict >= pvValid, verdict == pvMobile
}

func validRegion(r string) bool {
	return phonenumbers.GetCountryCodeForRegion(r) != 0
}
