package urlclean

// Percent-encoding as browsers and SDKs write it.

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// AppendUnescape percent-decodes s; plusSpace decodes '+' as a space (form
// encoding). ok=false for a malformed escape.
func AppendUnescape(dst, s []byte, plusSpace bool) ([]byte, bool) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '%':
			if i+2 >= len(s) {
				return dst, false
			}
			h, ok1 := unhex(s[i+1])
			l, ok2 := unhex(s[i+2])
			if !ok1 || !ok2 {
				return dst, false
			}
			dst = append(dst, h<<4|l)
			i += 2
		case c == '+' && plusSpace:
			dst = append(dst, ' ')
		default:
			dst = append(dst, c)
		}
	}
	return dst, true
}

// componentSafe are the bytes encodeURIComponent leaves as they are;
// pathSafe adds what a path may hold unescaped.
var componentSafe, pathSafe = func() (c, p [256]bool) {
	for b := 'a'; b <= 'z'; b++ {
		c[b], c[b-'a'+'A'] = true, true
	}
	for b := '0'; b <= '9'; b++ {
		c[b] = true
	}
	for _, b := range []byte("-_.!~*'()") {
		c[b] = true
	}
	p = c
	for _, b := range []byte("/:@&=+$,;") {
		p[b] = true
	}
	return c, p
}()

// AppendComponent percent-encodes s as JavaScript's encodeURIComponent does.
func AppendComponent(dst, s []byte) []byte { return appendEscaped(dst, s, &componentSafe) }

// appendPath percent-encodes s as a path (or fragment): '/' and the
// sub-delimiters stay as they are.
func appendPath(dst, s []byte) []byte { return appendEscaped(dst, s, &pathSafe) }

func appendEscaped(dst, s []byte, safe *[256]bool) []byte {
	const hexu = "0123456789ABCDEF"
	for _, c := range s {
		if safe[c] {
			dst = append(dst, c)
		} else {
			dst = append(dst, '%', hexu[c>>4], hexu[c&15])
		}
	}
	return dst
}
