package masking

import "net/netip"

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
