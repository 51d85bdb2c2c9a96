package detect

// ---- payment cards ----

// matchCard: 13 to 19 digits, contiguous or in groups of at least 3 joined
// by one kind of separator (space or hyphen), that pass Luhn and start with
// a known issuer prefix (see cardIIN). When a grouped run is longer than a
// card (a card followed by a year, say), the longest valid prefix of whole
// groups wins.
func matchCard(s []byte, i int) int {
	var digits [19]byte
	var ends, cum [19]int
	nd, ng := 0, 0
	var sep byte
	j := i
	for ng < len(ends) {
		k := j
		for k < len(s) && isDigit(s[k]) {
			if nd < len(digits) {
				digits[nd] = s[k]
			}
			nd++
			k++
		}
		if nd > len(digits) || sep != 0 && k-j < 3 {
			break
		}
		ends[ng], cum[ng] = k, nd
		ng++
		j = k
		if j+1 < len(s) && (s[j] == ' ' || s[j] == '-') && isDigit(s[j+1]) && (sep == 0 || sep == s[j]) {
			if ng == 1 && k-i < 3 {
				break
			}
			sep = s[j]
			j++
			continue
		}
		break
	}
	for g := ng - 1; g >= 0; g-- {
		n := cum[g]
		if n < 13 {
			break
		}
		if digitEndOK(s, ends[g]) && luhn(digits[:n]) && cardIIN(digits[:n]) {
			return ends[g]
		}
	}
	return 0
}

// luhn reports whether the digits pass the Luhn check.
func luhn(d []byte) bool {
	sum := 0
	double := false
	for k := len(d) - 1; k >= 0; k-- {
		v := int(d[k] - '0')
		if double {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
		double = !double
	}
	return sum%10 == 0
}

// cardIIN checks the issuer prefix against the length: Visa 4 (16, 19);
// Mastercard 51-55 and 2221-2720 (16); Mir 2200-2204 (16-19); Amex 34, 37
// (15); Diners 300-305, 36, 38, 39 (14-19); JCB 3528-3589 (16-19); Discover,
// UnionPay, RuPay and Maestro 6 (13-19); Maestro 50, 56-59 (13-19); UATP 1
// (15).
func cardIIN(d []byte) bool {
	n := len(d)
	p2 := int(d[0]-'0')*10 + int(d[1]-'0')
	p4 := p2*100 + int(d[2]-'0')*10 + int(d[3]-'0')
	switch d[0] {
	case '1':
		return n == 15
	case '2':
		return p4 >= 2221 && p4 <= 2720 && n == 16 || p4 >= 2200 && p4 <= 2204 && n >= 16
	case '3':
		switch {
		case p2 == 34 || p2 == 37:
			return n == 15
		case p4 >= 3528 && p4 <= 3589:
			return n >= 16
		case p4 >= 3000 && p4 <= 3059 || p2 == 36 || p2 == 38 || p2 == 39:
			return n >= 14
		}
		return false
	case '4':
		return n == 16 || n == 19 // 13-digit Visa numbers are withdrawn
	case '5':
		if p2 >= 51 && p2 <= 55 {
			return n == 16
		}
		return p2 == 50 || p2 >= 56
	case '6':
		return true
	}
	return false
}

// ---- US social security numbers ----

// matchSSN: ddd-dd-dddd with hyphens only (bare 9-digit runs are too often
// something else). Never issued, so rejected: area 000, 666 and 900-999,
// group 00, serial 0000.
func matchSSN(s []byte, i int) int {
	e := i + 11
	if e > len(s) || s[i+3] != '-' || s[i+6] != '-' ||
		!digitsOnly(s[i:i+3]) || !digitsOnly(s[i+4:i+6]) || !digitsOnly(s[i+7:e]) || !digitEndOK(s, e) {
		return 0
	}
	area := atoi(s[i : i+3])
	if area == 0 || area == 666 || area >= 900 || atoi(s[i+4:i+6]) == 0 || atoi(s[i+7:e]) == 0 {
		return 0
	}
	return e
}

// ---- IBAN ----

// ibanLengths is the IBAN length of each country in the SWIFT registry.
var ibanLengths = map[[2]byte]int{
	{'A', 'D'}: 24, {'A', 'E'}: 23, {'A', 'L'}: 28, {'A', 'T'}: 20, {'A', 'Z'}: 28,
	{'B', 'A'}: 20, {'B', 'E'}: 16, {'B', 'G'}: 22, {'B', 'H'}: 22, {'B', 'I'}: 27,
	{'B', 'R'}: 29, {'B', 'Y'}: 28, {'C', 'H'}: 21, {'C', 'R'}: 22, {'C', 'Y'}: 28,
	{'C', 'Z'}: 24, {'D', 'E'}: 22, {'D', 'J'}: 27, {'D', 'K'}: 18, {'D', 'O'}: 28,
	{'E', 'E'}: 20, {'E', 'G'}: 29, {'E', 'S'}: 24, {'F', 'I'}: 18, {'F', 'K'}: 18,
	{'F', 'O'}: 18, {'F', 'R'}: 27, {'G', 'B'}: 22, {'G', 'E'}: 22, {'G', 'I'}: 23,
	{'G', 'L'}: 18, {'G', 'R'}: 27, {'G', 'T'}: 28, {'H', 'N'}: 28, {'H', 'R'}: 21,
	{'H', 'U'}: 28, {'I', 'E'}: 22, {'I', 'L'}: 23, {'I', 'Q'}: 23, {'I', 'S'}: 26,
	{'I', 'T'}: 27, {'J', 'O'}: 30, {'K', 'W'}: 30, {'K', 'Z'}: 20, {'L', 'B'}: 28,
	{'L', 'C'}: 32, {'L', 'I'}: 21, {'L', 'T'}: 20, {'L', 'U'}: 20, {'L', 'V'}: 21,
	{'L', 'Y'}: 25, {'M', 'C'}: 27, {'M', 'D'}: 24, {'M', 'E'}: 22, {'M', 'K'}: 19,
	{'M', 'N'}: 20, {'M', 'R'}: 27, {'M', 'T'}: 31, {'M', 'U'}: 30, {'N', 'I'}: 28,
	{'N', 'L'}: 18, {'N', 'O'}: 15, {'O', 'M'}: 23, {'P', 'K'}: 24, {'P', 'L'}: 28,
	{'P', 'S'}: 29, {'P', 'T'}: 25, {'Q', 'A'}: 29, {'R', 'O'}: 24, {'R', 'S'}: 22,
	{'R', 'U'}: 33, {'S', 'A'}: 24, {'S', 'C'}: 31, {'S', 'D'}: 18, {'S', 'E'}: 24,
	{'S', 'I'}: 19, {'S', 'K'}: 24, {'S', 'M'}: 27, {'S', 'O'}: 23, {'S', 'T'}: 25,
	{'S', 'V'}: 28, {'T', 'L'}: 23, {'T', 'N'}: 24, {'T', 'R'}: 26, {'U', 'A'}: 29,
	{'V', 'A'}: 22, {'V', 'G'}: 24, {'X', 'K'}: 20, {'Y', 'E'}: 30,
}

func upper(c byte) byte {
	if c >= 'a' && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}

// matchIBAN: a registry country code, two check digits and exactly the
// country's length of letters and digits, either compact or in the print
// form with single spaces after every four characters; either case; the
// ISO 7064 mod-97 check must give 1.
func matchIBAN(s []byte, i int) int {
	if len(s)-i < 15 || charClass[s[i+1]]&cLetter == 0 || !isDigit(s[i+2]) || !isDigit(s[i+3]) {
		return 0
	}
	want := ibanLengths[[2]byte{upper(s[i]), upper(s[i+1])}]
	if want == 0 {
		return 0
	}
	var buf [34]byte
	n, j := 0, i
	for n < want {
		if j >= len(s) {
			return 0
		}
		c := s[j]
		switch {
		case isAlnum(c):
			buf[n] = upper(c)
			n++
			j++
		case c == ' ' && n%4 == 0 && n > 0 && j+1 < len(s) && isAlnum(s[j+1]) && s[j-1] != ' ':
			j++
		default:
			return 0
		}
	}
	if j < len(s) && isAlnum(s[j]) {
		return 0
	}
	// Move the first four characters to the end; letters are 10..35.
	rem := 0
	for k := 0; k < want; k++ {
		c := buf[(k+4)%want]
		if isDigit(c) {
			rem = (rem*10 + int(c-'0')) % 97
		} else {
			rem = (rem*100 + int(c-'A') + 10) % 97
		}
	}
	if rem != 1 {
		return 0
	}
	return j
}
