package detect

import (
	"net/netip"
	"unsafe"
)

// ipv4Len returns the length of the dotted-quad IPv4 address at s[i:]
// (four decimal octets 0-255 without leading zeros, as net/netip requires),
// or 0.
func ipv4Len(s []byte, i int) int {
	j := i
	for part := 0; part < 4; part++ {
		if part > 0 {
			if j >= len(s) || s[j] != '.' {
				return 0
			}
			j++
		}
		k, v := j, 0
		for k < len(s) && k-j < 3 && isDigit(s[k]) {
			v = v*10 + int(s[k]-'0')
			k++
		}
		if k == j || v > 255 || k-j > 1 && s[j] == '0' {
			return 0
		}
		j = k
	}
	return j - i
}

// matchIPv4: a valid dotted quad that is not part of a longer dotted or
// digit sequence ("1.2.3.4.5", "10.1.2.3.4" and "1.2.3.4a" are not
// addresses). Version strings such as "1.2.3.4" are valid addresses and are
// reported; "v1.2.3.4" is not (no token boundary).
func matchIPv4(s []byte, i int) int {
	if i > 0 && s[i-1] == '.' {
		return 0
	}
	n := ipv4Len(s, i)
	if n == 0 {
		return 0
	}
	// A port (":8080") or prefix length ("/24") may follow; more dotted
	// digits or letters may not.
	if e := i + n; e < len(s) && (isAlnum(s[e]) || s[e] == '.' && e+1 < len(s) && isDigit(s[e+1])) {
		return 0
	}
	if _, err := netip.ParseAddr(bytesString(s[i : i+n])); err != nil {
		return 0
	}
	return i + n
}

// matchIPv6: the longest run of hex digits, ':' and '.' (embedded IPv4) at
// s[i:], without a trailing '.' or single ':', that is a valid IPv6 address
// (RFC 4291 text forms, compressed "::" included; no zones) with at least
// two colons and at least three groups written out or an embedded IPv4.
// The last rule keeps "::1", "fe80::1", "a::b" and C++ or Rust paths out at
// the cost of a few real but rare short forms.
func matchIPv6(s []byte, i int) int {
	if i > 0 && (s[i-1] == ':' || s[i-1] == '.' || isAlnum(s[i-1])) {
		return 0
	}
	// Quick reject: a colon must come within the first five bytes.
	k := i
	for k < len(s) && k-i < 4 && isHex(s[k]) {
		k++
	}
	if k >= len(s) || s[k] != ':' {
		return 0
	}
	j := i
	for j < len(s) && (isHex(s[j]) || s[j] == ':' || s[j] == '.') {
		j++
		if j-i > 45 {
			return 0
		}
	}
	end := j
	for end > i && s[end-1] == '.' {
		end--
	}
	if end-i >= 2 && s[end-1] == ':' && s[end-2] != ':' {
		end--
	}
	if end < len(s) && isAlnum(s[end]) {
		return 0
	}
	groups, v4, ok := parseIPv6(s[i:end])
	if !ok || groups < 3 && !v4 {
		return 0
	}
	if _, err := netip.ParseAddr(bytesString(s[i:end])); err != nil {
		return 0
	}
	return end
}

// validIPv6 reports whether b is an IPv6 address in text form (no zone).
func validIPv6(b []byte) bool {
	_, _, ok := parseIPv6(b)
	return ok
}

// parseIPv6 validates b and returns the number of 16-bit groups written out
// and whether it ends in an embedded IPv4 address. It accepts exactly what
// netip.ParseAddr accepts for zone-less IPv6 (tested by fuzzing).
func parseIPv6(b []byte) (groups int, v4, ok bool) {
	ellipsis := -1
	i := 0
	if len(b) >= 2 && b[0] == ':' && b[1] == ':' {
		ellipsis = 0
		i = 2
		if i == len(b) {
			return 0, false, true
		}
	}
	for i < len(b) {
		j := i
		for j < len(b) && j-i < 5 && isHex(b[j]) {
			j++
		}
		if j == i {
			return 0, false, false
		}
		if j < len(b) && b[j] == '.' {
			// Embedded IPv4 takes the last 32 bits.
			if ellipsis < 0 && groups != 6 || groups > 6 || ipv4Len(b, i) != len(b)-i {
				return 0, false, false
			}
			groups += 2
			v4 = true
			break
		}
		if j-i > 4 {
			return 0, false, false
		}
		groups++
		i = j
		if i == len(b) {
			break
		}
		if b[i] != ':' {
			return 0, false, false
		}
		i++
		if i < len(b) && b[i] == ':' {
			if ellipsis >= 0 {
				return 0, false, false
			}
			ellipsis = groups
			i++
			if i == len(b) {
				break
			}
		} else if i == len(b) {
			return 0, false, false
		}
		if groups > 8 {
			return 0, false, false
		}
	}
	if ellipsis < 0 {
		return groups, v4, groups == 8
	}
	return groups, v4, groups < 8
}

// IPv4Len returns the length of the dotted-quad IPv4 address at s[i:], or 0.
func IPv4Len(s []byte, i int) int { return ipv4Len(s, i) }

// ValidIPv6 reports whether b is an IPv6 address in text form (no zone).
func ValidIPv6(b []byte) bool { return validIPv6(b) }

func bytesString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// ---- MAC addresses ----

// matchMAC: six octets of two hex digits joined by ':' or '-' (the same
// throughout), or Cisco's three dot-joined groups of four ("0000.5e00.5301"),
// or, after a MAC context word ("mac", "bssid", ...), twelve bare hex
// digits. Not personal, so not reported: all-zero, broadcast, Android's
// placeholder 02:00:00:00:00:00 and the RFC 7042 documentation range
// 00-00-5E-00-53-xx. A MAC context word is not needed for the separated
// forms; a business-identifier word vetoes.
func matchMAC(s []byte, i int, o *Options) (int, string, string) {
	if i > 0 && (s[i-1] == ':' || s[i-1] == '-' || s[i-1] == '.') {
		return 0, "", ""
	}
	var oct [6]byte
	end, rule := 0, ""
	switch {
	case i+17 <= len(s) && (s[i+2] == ':' || s[i+2] == '-'):
		sep := s[i+2]
		for k := 0; k < 6; k++ {
			p := i + 3*k
			if !isHex(s[p]) || !isHex(s[p+1]) || k < 5 && s[p+2] != sep {
				return 0, "", ""
			}
			oct[k] = unhex(s[p])<<4 | unhex(s[p+1])
		}
		end, rule = i+17, "mac.octets"
		if end < len(s) && (isAlnum(s[end]) || s[end] == sep && end+1 < len(s) && isHex(s[end+1])) {
			return 0, "", ""
		}
	case i+14 <= len(s) && s[i+4] == '.' && s[i+9] == '.':
		for k := 0; k < 3; k++ {
			p := i + 5*k
			for q := 0; q < 4; q++ {
				if !isHex(s[p+q]) {
					return 0, "", ""
				}
			}
			oct[2*k] = unhex(s[p])<<4 | unhex(s[p+1])
			oct[2*k+1] = unhex(s[p+2])<<4 | unhex(s[p+3])
		}
		end, rule = i+14, "mac.cisco"
		if end < len(s) && (isAlnum(s[end]) || s[end] == '.' && end+1 < len(s) && isAlnum(s[end+1])) {
			return 0, "", ""
		}
	case i+12 <= len(s):
		for k := 0; k < 12; k++ {
			if !isHex(s[i+k]) {
				return 0, "", ""
			}
		}
		end = i + 12
		if end < len(s) && isAlnum(s[end]) {
			return 0, "", ""
		}
		if v, cue := o.context(s, i, end, bMAC); v > 0 {
			for k := 0; k < 6; k++ {
				oct[k] = unhex(s[i+2*k])<<4 | unhex(s[i+2*k+1])
			}
			if !macPersonal(oct) {
				return 0, "", ""
			}
			return end, "mac.hotword", cue
		}
		return 0, "", ""
	default:
		return 0, "", ""
	}
	if !macPersonal(oct) {
		return 0, "", ""
	}
	v, cue := o.context(s, i, end, bMAC)
	if v < 0 {
		return 0, "", ""
	}
	return end, rule, cue
}

func macPersonal(o [6]byte) bool {
	zero, bcast := true, true
	for _, b := range o {
		zero = zero && b == 0
		bcast = bcast && b == 0xff
	}
	if zero || bcast {
		return false
	}
	if o == [6]byte{2, 0, 0, 0, 0, 0} {
		return false
	}
	if o[0] == 0 && o[1] == 0 && o[2] == 0x5e && o[3] == 0 && o[4] == 0x53 {
		return false
	}
	return true
}

// ---- advertising ids ----

// matchAdID: a hyphenated UUID (8-4-4-4-12 hex, either case), not the
// all-zero id (the "limit ad tracking" value, which identifies no one) nor
// the all-f Max UUID. An ad-id context word ("idfa", "gaid",
// "advertising", ...) makes any UUID an ad id; a request-id word
// ("request", "trace", "session", "event", "order", ...) or an id prefix
// vetoes; otherwise only a random (version 4, RFC 9562 variant) UUID
// counts, because request and event ids are usually v1 or v7 and real IDFA
// and GAID values look v4. The 32-hex form without hyphens is not detected
// in text: it cannot be told apart from hashes and tokens; the field
// classifiers handle those keys.
func matchAdID(s []byte, i int, o *Options) (int, string, string) {
	if len(s)-i < 36 || s[i+8] != '-' || s[i+13] != '-' || s[i+18] != '-' || s[i+23] != '-' {
		return 0, "", ""
	}
	if i > 0 && s[i-1] == '-' {
		return 0, "", ""
	}
	zero, max := true, true
	for k := i; k < i+36; k++ {
		switch k - i {
		case 8, 13, 18, 23:
			continue
		}
		if !isHex(s[k]) {
			return 0, "", ""
		}
		zero = zero && s[k] == '0'
		max = max && (s[k] == 'f' || s[k] == 'F')
	}
	if zero || max {
		return 0, "", ""
	}
	e := i + 36
	if e < len(s) && (isAlnum(s[e]) || s[e] == '-') {
		return 0, "", ""
	}
	v, cue := o.context(s, i, e, bAdID)
	switch {
	case v > 0:
		return e, "ad_id.hotword", cue
	case v < 0:
		return 0, "", ""
	}
	variant := s[i+19] | 0x20
	if s[i+14] == '4' && (variant == '8' || variant == '9' || variant == 'a' || variant == 'b') {
		return e, "ad_id.v4", ""
	}
	return 0, "", ""
}
