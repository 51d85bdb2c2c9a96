package masking

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"time"
	"unsafe"
)

// Generalization targets (Params.To). The empty target is "auto": strings
// that are dates become their year, strings that are IP addresses their
// prefix, numbers with a fraction keep Decimals places; anything else is
// redacted.
const (
	ToYear     = "year"
	ToMonth    = "month"
	ToDecimals = "decimals"
	ToBucket   = "bucket"
	ToPrefix   = "prefix"
)

// Bounds of the integers generalize reads as dates.
const (
	maxEpochSeconds = 1e11 // |seconds| below this are epoch seconds (year 5138)
	maxEpochMillis  = 1e14 // |ms| below this (and not seconds) are epoch milliseconds
)

// generalize coarsens raw per p.To. A value of the wrong shape for the target
// is redacted (fail closed), never kept.
func (t *Transformer) generalize(dst []byte, p *Params, raw []byte, typ ValueType) ([]byte, error) {
	var text []byte
	quoted := false
	switch typ {
	case TypeString:
		quoted = true
		if hasBackslash(raw) {
			sc := t.get()
			defer t.put(sc)
			var err error
			if text, err = decodeString(&sc.text, raw); err != nil {
				return dst, err
			}
		} else {
			text = raw[1 : len(raw)-1]
		}
	case TypeNumber:
		text = raw
	default:
		return appendRedacted(dst, p, typ), nil
	}
	out, ok, err := generalizeText(dst, p, text, quoted)
	if err != nil {
		return dst, err
	}
	if !ok {
		return appendRedacted(dst, p, typ), nil
	}
	return out, nil
}

func hasBackslash(b []byte) bool {
	for _, c := range b {
		if c == '\\' {
			return true
		}
	}
	return false
}

// generalizeText appends the generalized text (quoted when quoted is set)
// and reports whether the value had a shape the target can coarsen. When ok
// is false, dst is unchanged.
func generalizeText(dst []byte, p *Params, text []byte, quoted bool) ([]byte, bool, error) {
	n := len(dst)
	if quoted {
		dst = append(dst, '"')
	}
	var ok bool
	switch p.To {
	case ToYear, ToMonth:
		dst, ok = appendDate(dst, text, p.To == ToMonth, quoted)
	case ToDecimals:
		dst, ok = appendDecimals(dst, text, p.Decimals)
	case ToBucket:
		if !(p.BucketSize > 0) || math.IsInf(p.BucketSize, 0) {
			return dst[:n], false, fmt.Errorf("cannot generalize to bucket: bucket_size must be a positive number: %w", ErrInvalidParams)
		}
		dst, ok = appendBucket(dst, text, p.BucketSize)
	case ToPrefix:
		if quoted {
			dst, ok = appendIPPrefix(dst, text, p.IPv4Bits, p.IPv6Bits)
		}
	case ToUserAgent:
		if quoted {
			dst, ok = appendUserAgent(dst, text), true
		}
	case "":
		dst, ok = appendAuto(dst, p, text, quoted)
	default:
		return dst[:n], false, fmt.Errorf("cannot generalize to %q: want year, month, decimals, bucket, prefix or user_agent: %w", p.To, ErrInvalidParams)
	}
	if !ok {
		return dst[:n], false, nil
	}
	if quoted {
		dst = append(dst, '"')
	}
	return dst, true, nil
}

func appendAuto(dst []byte, p *Params, text []byte, quoted bool) ([]byte, bool) {
	if quoted {
		if len(text) >= 3 && text[0] == '$' && text[1] == 'D' && text[2] == '_' || isoDatePrefix(text) {
			return appendDate(dst, text, false, true)
		}
		if d, ok := appendIPPrefix(dst, text, p.IPv4Bits, p.IPv6Bits); ok {
			return d, true
		}
	}
	num, ok := parseNumber(text)
	if !ok || num.frac == nil && num.exp == nil {
		return dst, false // integers have no decimals to cut: redact
	}
	return appendDecimals(dst, text, p.Decimals)
}

// ---- dates ----

// appendDate truncates a date to January 1st (or the 1st of the month),
// keeping its format: CleverTap "$D_<epoch seconds>", legacy "$D_yyyymmdd",
// ISO 8601 "yyyy-mm-dd[Thh:mm:ss[.f][zone]]", and integers that are a year
// (4 digits, kept), yyyymmdd (8 digits, a valid date in 1900-2100), epoch
// seconds (|v| < 1e11) or epoch milliseconds (|v| < 1e14). All in UTC. An
// 8-digit value that is a valid yyyymmdd is read as one even though it is
// also a 1970-1973 epoch second.
func appendDate(dst, text []byte, month, quoted bool) ([]byte, bool) {
	if quoted && len(text) > 3 && text[0] == '$' && text[1] == 'D' && text[2] == '_' {
		v, digits, ok := parseInt(text[3:])
		if !ok || digits > 12 {
			return dst, false
		}
		dst = append(dst, "$D_"...)
		if digits == 8 && v > 0 {
			if y, m, d := int(v/10000), int(v/100%100), int(v%100); validYMD(y, m, d) {
				return appendYYYYMMDD(dst, y, m, month), true
			}
		}
		if v <= -maxEpochSeconds || v >= maxEpochSeconds {
			return dst, false
		}
		return strconv.AppendInt(dst, truncEpoch(v, month), 10), true
	}
	if quoted && isoDatePrefix(text) {
		return appendISODate(dst, text, month)
	}
	v, digits, ok := parseInt(text)
	if !ok {
		return dst, false
	}
	if digits == 4 && v >= 1000 {
		return strconv.AppendInt(dst, v, 10), true // a year is coarse enough already
	}
	if digits == 8 && v > 0 {
		if y, m, d := int(v/10000), int(v/100%100), int(v%100); validYMD(y, m, d) {
			return appendYYYYMMDD(dst, y, m, month), true
		}
	}
	switch {
	case v > -maxEpochSeconds && v < maxEpochSeconds:
		return strconv.AppendInt(dst, truncEpoch(v, month), 10), true
	case v > -maxEpochMillis && v < maxEpochMillis:
		sec := v / 1000
		if v%1000 < 0 {
			sec-- // floor for dates before 1970
		}
		return strconv.AppendInt(dst, truncEpoch(sec, month)*1000, 10), true
	}
	return dst, false
}

// validYMD accepts the yyyymmdd dates generalize reads from 8-digit integers.
func validYMD(y, m, d int) bool {
	if y < 1900 || y > 2100 || m < 1 || m > 12 || d < 1 {
		return false
	}
	return d <= daysIn(y, m)
}

func daysIn(y, m int) int {
	return time.Date(y, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

func appendYYYYMMDD(dst []byte, y, m int, month bool) []byte {
	if !month {
		m = 1
	}
	dst = appendPad(dst, y, 4)
	dst = appendPad(dst, m, 2)
	return append(dst, '0', '1')
}

func truncEpoch(sec int64, month bool) int64 {
	y, m, _ := time.Unix(sec, 0).UTC().Date()
	if !month {
		m = time.January
	}
	return time.Date(y, m, 1, 0, 0, 0, 0, time.UTC).Unix()
}

// appendPad appends v with at least w digits (v >= 0).
func appendPad(dst []byte, v, w int) []byte {
	var b [20]byte
	i := len(b)
	for v > 0 || w > 0 {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		w--
	}
	return append(dst, b[i:]...)
}

func isoDatePrefix(b []byte) bool {
	return len(b) >= 10 && b[4] == '-' && b[7] == '-' &&
		digitsOnly(b[0:4]) && digitsOnly(b[5:7]) && digitsOnly(b[8:10])
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

// appendISODate handles "yyyy-mm-dd", optionally followed by 'T' or ' ' and
// hh:mm[:ss[.fraction]] and an optional zone (Z or ±hh[:mm]). With a zone the
// instant is converted to UTC and written as "yyyy-mm-ddT00:00:00Z"; without
// one the time is zeroed in place. Anything else after the date fails.
func appendISODate(dst, b []byte, month bool) ([]byte, bool) {
	y, m, d := atoi(b[0:4]), atoi(b[5:7]), atoi(b[8:10])
	if m < 1 || m > 12 || d < 1 || d > daysIn(y, m) {
		return dst, false
	}
	rest := b[10:]
	if len(rest) == 0 {
		return appendISOYMD(dst, y, m, month), true
	}
	sep := rest[0]
	if sep != 'T' && sep != 't' && sep != ' ' {
		return dst, false
	}
	rest = rest[1:]
	if len(rest) < 5 || rest[2] != ':' || !digitsOnly(rest[0:2]) || !digitsOnly(rest[3:5]) {
		return dst, false
	}
	hh, mm, ss := atoi(rest[0:2]), atoi(rest[3:5]), 0
	rest = rest[5:]
	if len(rest) >= 3 && rest[0] == ':' && digitsOnly(rest[1:3]) {
		ss = atoi(rest[1:3])
		rest = rest[3:]
		if len(rest) > 1 && (rest[0] == '.' || rest[0] == ',') {
			k := 1
			for k < len(rest) && rest[k] >= '0' && rest[k] <= '9' {
				k++
			}
			if k == 1 {
				return dst, false
			}
			rest = rest[k:]
		}
	}
	if hh > 23 || mm > 59 || ss > 60 {
		return dst, false
	}
	if len(rest) == 0 {
		dst = appendISOYMD(dst, y, m, month)
		dst = append(dst, sep)
		return append(dst, "00:00:00"...), true
	}
	off := 0
	switch {
	case len(rest) == 1 && (rest[0] == 'Z' || rest[0] == 'z'):
	case rest[0] == '+' || rest[0] == '-':
		z := rest[1:]
		var oh, om int
		switch {
		case len(z) == 2 && digitsOnly(z):
			oh = atoi(z)
		case len(z) == 4 && digitsOnly(z):
			oh, om = atoi(z[0:2]), atoi(z[2:4])
		case len(z) == 5 && z[2] == ':' && digitsOnly(z[0:2]) && digitsOnly(z[3:5]):
			oh, om = atoi(z[0:2]), atoi(z[3:5])
		default:
			return dst, false
		}
		if oh > 23 || om > 59 {
			return dst, false
		}
		off = oh*3600 + om*60
		if rest[0] == '-' {
			off = -off
		}
	default:
		return dst, false
	}
	u := time.Date(y, time.Month(m), d, hh, mm, ss, 0, time.UTC).Add(-time.Duration(off) * time.Second)
	uy, um, _ := u.Date()
	dst = appendISOYMD(dst, uy, int(um), month)
	dst = append(dst, sep)
	return append(dst, "00:00:00Z"...), true
}

func appendISOYMD(dst []byte, y, m int, month bool) []byte {
	if !month {
		m = 1
	}
	dst = appendPad(dst, y, 4)
	dst = append(dst, '-')
	dst = appendPad(dst, m, 2)
	return append(dst, "-01"...)
}

// parseInt reads an optional '-' and 1 to 18 digits (no leading zeros
// except "0") and returns the value and the number of digits.
func parseInt(b []byte) (v int64, digits int, ok bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 18 || !digitsOnly(b) || len(b) > 1 && b[0] == '0' {
		return 0, 0, false
	}
	for _, c := range b {
		v = v*10 + int64(c-'0')
	}
	if neg {
		v = -v
	}
	return v, len(b), true
}

// ---- numbers ----

// number is the syntax of a JSON number split into its parts.
type number struct {
	neg       bool
	int, frac []byte // digits; frac nil when there is no '.'
	exp       []byte // after 'e' or 'E', sign included; nil when absent
}

func parseNumber(b []byte) (number, bool) {
	var n number
	i := 0
	if i < len(b) && b[i] == '-' {
		n.neg = true
		i++
	}
	s := i
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	if i == s || i-s > 1 && b[s] == '0' {
		return n, false
	}
	n.int = b[s:i]
	if i < len(b) && b[i] == '.' {
		i++
		s = i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == s {
			return n, false
		}
		n.frac = b[s:i]
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		s = i
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return n, false
		}
		n.exp = b[s:i]
	}
	return n, i == len(b)
}

// appendDecimals rounds a number to dec decimal places, half away from
// zero (37.774929 -> 37.77, -122.419416 -> -122.42): truncating would move
// every point towards the equator and the prime meridian. Plain notation is
// rounded as decimal text (exact); exponent notation goes through float64.
func appendDecimals(dst, text []byte, dec int) ([]byte, bool) {
	num, ok := parseNumber(text)
	if !ok {
		return dst, false
	}
	dec = max(dec, 0)
	if num.exp == nil {
		return appendRoundedText(dst, num, dec), true
	}
	f, err := strconv.ParseFloat(bytesString(text), 64)
	if err != nil {
		return dst, false
	}
	scale := math.Pow10(dec)
	v := math.Round(f*scale) / scale
	if math.IsInf(v, 0) || math.IsNaN(v) {
		v = f // f*scale overflowed: f has no fraction at this magnitude
	}
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return dst, false
	}
	return strconv.AppendFloat(dst, v, 'f', -1, 64), true
}

// appendRoundedText appends num (plain notation) rounded half away from
// zero to dec decimal places, keeping at most dec of its own decimals.
func appendRoundedText(dst []byte, num number, dec int) []byte {
	keep := min(dec, len(num.frac))
	start := len(dst)
	if num.neg {
		dst = append(dst, '-')
	}
	digits := len(dst)
	dst = append(dst, num.int...)
	point := len(dst)
	dst = append(dst, num.frac[:keep]...)
	if keep < len(num.frac) && num.frac[keep] >= '5' {
		i := len(dst) - 1
		for ; i >= digits && dst[i] == '9'; i-- {
			dst[i] = '0'
		}
		if i >= digits {
			dst[i]++
		} else { // 9.99 -> 10.0: one more integer digit
			dst = append(dst, 0)
			copy(dst[digits+1:], dst[digits:])
			dst[digits] = '1'
			point++
		}
	}
	if keep > 0 {
		dst = append(dst, 0)
		copy(dst[point+1:], dst[point:])
		dst[point] = '.'
	}
	if num.neg && allZero(dst[digits:]) {
		dst = append(dst[:start], dst[digits:]...) // -0.001 -> 0.00, not -0.00
	}
	return dst
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != '0' && c != '.' {
			return false
		}
	}
	return true
}

// appendBucket floors a number to a multiple of size.
func appendBucket(dst, text []byte, size float64) ([]byte, bool) {
	if _, ok := parseNumber(text); !ok {
		return dst, false
	}
	f, err := strconv.ParseFloat(bytesString(text), 64)
	if err != nil {
		return dst, false
	}
	v := math.Floor(f/size) * size
	// Round away the float noise of fractional sizes (0.1 * 3 = 0.30000000000000004).
	dec := 0
	for s := size; dec < 12 && s != math.Trunc(s); dec++ {
		s *= 10
	}
	if dec > 0 {
		sc := math.Pow10(dec)
		v = math.Round(v*sc) / sc
	}
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return dst, false
	}
	return strconv.AppendFloat(dst, v, 'f', -1, 64), true
}

// bytesString views b as a string for calls that do not keep it.
func bytesString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// ---- IP prefixes ----

// appendIPPrefix writes the network address of the IPv4 /v4bits or IPv6
// /v6bits prefix that holds text ("203.0.113.77" -> "203.0.113.0").
// IPv4-mapped IPv6 addresses use 96+v4bits. Zero bits mean the defaults
// (24 and 48).
func appendIPPrefix(dst, text []byte, v4bits, v6bits int) ([]byte, bool) {
	if v4bits <= 0 || v4bits > 32 {
		v4bits = defaultParams.IPv4Bits
	}
	if v6bits <= 0 || v6bits > 128 {
		v6bits = defaultParams.IPv6Bits
	}
	var bits int
	switch {
	case ipv4Len(text, 0) == len(text) && len(text) > 0:
		bits = v4bits
	case validIPv6(text):
		bits = v6bits
	default:
		return dst, false
	}
	a, err := netip.ParseAddr(bytesString(text))
	if err != nil {
		return dst, false
	}
	if a.Is4In6() {
		bits = 96 + v4bits
	}
	pfx, err := a.Prefix(bits)
	if err != nil {
		return dst, false
	}
	return pfx.Addr().AppendTo(dst), true
}
