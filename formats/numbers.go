package formats

import (
	"strconv"

	"github.com/consentry/consentry/masking"
)

// MaxNumberDigits bounds the significant digits of a JSON number. A longer
// number is no measurement: it can carry any text past the policy, and
// vendors' decoders round or reject it.
const MaxNumberDigits = 64

// CheckNumbers refuses (400 invalid_number) a JSON text, already validated,
// that holds a number with more than MaxNumberDigits significant digits or
// one a float64 cannot hold (it overflows to infinity, or a non-zero number
// underflows to zero): the vendor would read another value than the policy
// decided on. Other numbers pass untouched. It does not allocate unless it
// refuses.
func CheckNumbers(js []byte) error {
	for i := 0; i < len(js); i++ {
		switch c := js[i]; {
		case c == '"':
			for i++; i < len(js) && js[i] != '"'; i++ {
				if js[i] == '\\' {
					i++
				}
			}
		case c == '-' || (c >= '0' && c <= '9'):
			j := i + 1
			for j < len(js) && isNumberByte(js[j]) {
				j++
			}
			if err := checkNumber(js[i:j]); err != nil {
				return err
			}
			i = j - 1
		}
	}
	return nil
}

// plainNumberBytes: a number token of at most this many bytes without an
// exponent has at most MaxNumberDigits digits and is within float64's
// range, so checkNumber accepts it without parsing.
const plainNumberBytes = 24

// checkParsedNumbers is CheckNumbers for the record rw has parsed: the
// parse already measured every number token, so the bytes are scanned
// again only when one of them is long or has an exponent.
func checkParsedNumbers(rw *masking.Rewriter) error {
	if rw.PlainNumbers(plainNumberBytes) {
		return nil
	}
	return CheckNumbers(rw.Raw(0))
}

func isNumberByte(c byte) bool {
	return (c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-'
}

// checkNumber checks one number token.
func checkNumber(tok []byte) error {
	sig, exp := 0, false
	for _, c := range tok {
		switch {
		case c == 'e' || c == 'E':
			exp = true
		case exp:
		case c >= '1' && c <= '9', c == '0' && sig > 0:
			sig++
		}
	}
	if sig > MaxNumberDigits {
		return Errorf(400, "invalid_number", "a JSON number has more than %d significant digits", MaxNumberDigits)
	}
	if !exp && len(tok) <= plainNumberBytes {
		return nil // at most 24 digits: within float64's range
	}
	f, err := strconv.ParseFloat(B2S(tok), 64)
	if err != nil || (f == 0 && sig > 0) {
		return Errorf(400, "invalid_number", "a JSON number is out of the range of a 64-bit float")
	}
	return nil
}
