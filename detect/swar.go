package detect

import "encoding/binary"

// Word-at-a-time byte tests (SWAR): eight bytes per step decide the quick
// rejects that run over every scanned value and every object key. Each
// test is exact: a word with no flagged byte has none of the bytes it
// looks for.
const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// hasZeroByte flags (in the byte's top bit) a zero byte of x; the lowest
// flag is exact, flags above it may be false.
func hasZeroByte(x uint64) uint64 { return (x - lsb) &^ x & msb }

// byteClasses tells, for s, whether it holds a byte an identifier detector
// needs (a digit, '@', ':' or a non-ASCII byte: ids) and whether it holds a
// digit or a space (text detectors need one of them).
func byteClasses(s []byte) (ids, text bool) {
	for len(s) >= 8 {
		x := binary.LittleEndian.Uint64(s)
		s = s[8:]
		if x&msb != 0 {
			ids = true // non-ASCII
			if text || wordHasDigitOrSpace(x) {
				return true, true
			}
			continue
		}
		// Every byte is below 0x80: adding up to 0x50 per byte carries into
		// no neighbour, so each byte's top bit tells its own comparison.
		ge30 := (x + 0x50*lsb) & msb // byte >= '0'
		ge3a := (x + 0x46*lsb) & msb // byte >= ':'
		ge3b := (x + 0x45*lsb) & msb // byte >= ';'
		digit := ge30 &^ ge3a
		if digit != 0 {
			return true, true
		}
		if ge3a&^ge3b != 0 || hasZeroByte(x^(0x40*lsb)) != 0 {
			ids = true
		}
		if hasZeroByte(x^(0x20*lsb)) != 0 {
			text = true
		}
		if ids && text {
			return
		}
	}
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			return true, true
		case c == '@' || c == ':' || c >= 0x80:
			ids = true
		case c == ' ':
			text = true
		}
	}
	return
}

// wordHasDigitOrSpace is the text half of byteClasses for a word that holds
// non-ASCII bytes (the carry trick does not apply): byte by byte.
func wordHasDigitOrSpace(x uint64) bool {
	for k := 0; k < 8; k++ {
		c := byte(x >> (8 * k))
		if c >= '0' && c <= '9' || c == ' ' {
			return true
		}
	}
	return false
}
