package detect

// byteClass holds, per byte, what the quick rejects look for: classIDs for
// a byte an identifier detector needs (a digit, '@', ':' or a non-ASCII
// byte), classText for a digit or a space (the text detectors need one).
const (
	classIDs  = 1
	classText = 2
)

var byteClass = func() (t [256]uint8) {
	for c := '0'; c <= '9'; c++ {
		t[c] = classIDs | classText
	}
	t['@'], t[':'], t[' '] = classIDs, classIDs, classText
	for c := 0x80; c < 0x100; c++ {
		t[c] = classIDs
	}
	return t
}()

// byteClasses tells, for s, whether it holds a byte an identifier detector
// needs (ids) and whether it holds a digit or a space (text). It runs over
// every scanned value and every object key: a table lookup per byte, eight
// bytes per step, no branch but the loop's.
func byteClasses(s []byte) (ids, text bool) {
	var acc uint8
	for len(s) >= 8 {
		acc |= byteClass[s[0]] | byteClass[s[1]] | byteClass[s[2]] | byteClass[s[3]] |
			byteClass[s[4]] | byteClass[s[5]] | byteClass[s[6]] | byteClass[s[7]]
		if acc == classIDs|classText {
			return true, true
		}
		s = s[8:]
	}
	for _, c := range s {
		acc |= byteClass[c]
	}
	return acc&classIDs != 0, acc&classText != 0
}
