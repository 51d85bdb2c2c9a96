package lzstring

import (
	"encoding/base64"
	"errors"
	"math/bits"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
)

// Errors. They never carry input bytes.
var (
	ErrInvalidUTF8   = errors.New("lzstring: input is not valid UTF-8")
	ErrInvalidBase64 = errors.New("lzstring: input is not LZ-String Base64 (standard alphabet, '=' only as trailing padding)")
	ErrCorrupt       = errors.New("lzstring: compressed stream is corrupt or truncated")
	ErrInvalidUTF16  = errors.New("lzstring: decompressed text has a lone UTF-16 surrogate")
	ErrTooLarge      = errors.New("lzstring: decompressed text exceeds the limit")
)

// DefaultLimit is a sensible bound on decompressed output, in UTF-16 code
// units, for query-string payloads: CleverTap's URLs stay far below it.
const DefaultLimit = 1 << 20

// maxPooled bounds the scratch buffers kept in the pools, so that one huge
// request does not pin memory.
const maxPooled = 1 << 20

// ---------------------------------------------------------------------------
// Compression

// compressor holds the working memory of one compression.
type compressor struct {
	units  []uint16   // the input as UTF-16
	keys   []uint64   // open-addressing table: key+1, 0 = empty
	vals   []int32    // code of each key
	prefix []int32    // per code: code of the word without its last unit, -1 for single units
	last   []uint16   // per code: last unit
	out    []byte     // UTF-16BE bytes of the compressed units
	low    [256]int32 // single units below 256: code+1 with pendingFlag, 0 = absent

	acc  uint64 // pending bits, most significant first
	nacc uint
}

var compPool = sync.Pool{New: func() any { return new(compressor) }}

// singleKey marks single-unit entries in the table (no code is this large).
const singleKey = 0xFFFFFFFF

// AppendCompressToBase64 appends CleverTap's encoding of the UTF-8 text s:
// Base64 (standard alphabet, '=' padding) of the big-endian bytes of
// LZ-String's 16-bit compress(s).
func AppendCompressToBase64(dst, s []byte) ([]byte, error) {
	c := compPool.Get().(*compressor)
	defer c.release()
	if err := c.compress(s); err != nil {
		return dst, err
	}
	return base64.StdEncoding.AppendEncode(dst, c.out), nil
}

// Compress returns LZ-String's compress(s) as 16-bit units, exactly what
// the JavaScript function returns as a string. Tests and tools use it; the
// proxy uses AppendCompressToBase64.
func Compress(s []byte) ([]uint16, error) {
	c := compPool.Get().(*compressor)
	defer c.release()
	if err := c.compress(s); err != nil {
		return nil, err
	}
	out := make([]uint16, len(c.out)/2)
	for i := range out {
		out[i] = uint16(c.out[2*i])<<8 | uint16(c.out[2*i+1])
	}
	return out, nil
}

func (c *compressor) release() {
	if cap(c.units) > maxPooled || cap(c.keys) > maxPooled || cap(c.out) > maxPooled {
		return
	}
	compPool.Put(c)
}

func (c *compressor) compress(s []byte) error {
	units, err := appendUTF16(c.units[:0], s)
	c.units = units
	if err != nil {
		return err
	}
	c.out = c.out[:0]
	c.acc, c.nacc = 0, 0
	// Every unit adds at most one single-unit entry and one word entry.
	size := 64
	for size < 4*(len(units)+4) {
		size <<= 1
	}
	if cap(c.keys) >= size {
		c.keys = c.keys[:size]
		clear(c.keys)
		c.vals = c.vals[:size]
	} else {
		c.keys = make([]uint64, size)
		c.vals = make([]int32, size)
	}
	clear(c.low[:])
	c.prefix = c.prefix[:0]
	c.last = c.last[:0]
	for range 3 { // codes 0, 1, 2 are the literal markers and end of stream
		c.prefix = append(c.prefix, -1)
		c.last = append(c.last, 0)
	}

	var (
		enlargeIn       = 2 // compensates for the first entry, which should not count
		dictSize  int32 = 3
		numBits   uint  = 2
		w         int32 = -1    // code of the current word, -1 = empty
		wPending        = false // w is a single unit not yet sent as a literal
		wLen            = 0
	)
	enlarge := func() {
		enlargeIn--
		if enlargeIn == 0 {
			enlargeIn = 1 << numBits
			numBits++
		}
	}
	// emit writes the current word w.
	emit := func() {
		if wPending {
			u := c.last[w]
			if u < 256 {
				c.writeBits(0, numBits)
				c.writeBits(uint32(u), 8)
			} else {
				c.writeBits(1, numBits)
				c.writeBits(uint32(u), 16)
			}
			enlarge()
			c.markSent(c.last[w])
		} else {
			c.writeBits(uint32(w), numBits)
		}
		enlarge()
	}

	for _, u := range units {
		code, pending, ok := c.lookupSingle(u)
		if !ok {
			code, pending = dictSize, true
			if u < 256 {
				c.low[u] = dictSize + 1
			} else {
				c.insert(singleKey<<16|uint64(u), dictSize)
			}
			c.prefix = append(c.prefix, -1)
			c.last = append(c.last, u)
			dictSize++
		}
		if w < 0 {
			w, wPending, wLen = code, pending, 1
			continue
		}
		key := uint64(uint32(w))<<16 | uint64(u)
		if wc, ok := c.lookup(key); ok {
			w, wPending, wLen = wc, false, wLen+1
			continue
		}
		emit()
		// JavaScript quirk: dictionary["__proto__"] = n sets the prototype
		// and creates no entry, but the code is still used up.
		if !(wLen == 8 && u == '_' && c.spells(w, "__proto_")) {
			c.insert(key, dictSize)
		}
		c.prefix = append(c.prefix, w)
		c.last = append(c.last, u)
		dictSize++
		code, pending, _ = c.lookupSingle(u)
		w, wPending, wLen = code, pending, 1
	}
	if w >= 0 {
		emit()
	}
	c.writeBits(2, numBits) // end of stream
	// Flush: pad the last unit with zero bits; a stream that ends on a unit
	// boundary gets one more all-zero unit, as the original does.
	c.drain()
	if c.nacc == 0 {
		c.out = append(c.out, 0, 0)
	} else {
		c.acc <<= 16 - c.nacc
		c.nacc = 16
		c.drain()
	}
	return nil
}

// writeBits appends the n low bits of v, least significant first, as the
// original does one bit at a time.
func (c *compressor) writeBits(v uint32, n uint) {
	c.acc = c.acc<<n | uint64(bits.Reverse32(v)>>(32-n))
	c.nacc += n
	if c.nacc >= 32 {
		c.drain()
	}
}

func (c *compressor) drain() {
	for c.nacc >= 16 {
		c.nacc -= 16
		u := uint16(c.acc >> c.nacc)
		c.out = append(c.out, byte(u>>8), byte(u))
	}
	c.acc &= 1<<c.nacc - 1
}

func hash64(k uint64) uint64 {
	k ^= k >> 33
	k *= 0xff51afd7ed558ccd
	k ^= k >> 33
	return k
}

func (c *compressor) insert(key uint64, code int32) {
	mask := uint64(len(c.keys) - 1)
	for p := hash64(key) & mask; ; p = (p + 1) & mask {
		if c.keys[p] == 0 {
			c.keys[p] = key + 1
			c.vals[p] = code
			return
		}
	}
}

func (c *compressor) lookup(key uint64) (int32, bool) {
	mask := uint64(len(c.keys) - 1)
	for p := hash64(key) & mask; ; p = (p + 1) & mask {
		switch c.keys[p] {
		case 0:
			return 0, false
		case key + 1:
			return c.vals[p], true
		}
	}
}

// Single units keep their "not yet sent as a literal" flag in the sign bit
// of their table value.
const pendingFlag = -1 << 31

func (c *compressor) lookupSingle(u uint16) (code int32, pending, ok bool) {
	if u < 256 {
		v := c.low[u]
		return (v &^ pendingFlag) - 1, v&pendingFlag == 0, v != 0
	}
	v, ok := c.lookup(singleKey<<16 | uint64(u))
	if !ok {
		return 0, false, false
	}
	return v &^ pendingFlag, v&pendingFlag == 0, true
}

// markSent records that unit u has been sent as a literal: entries are
// inserted pending (flag bit clear) and sending sets the flag.
func (c *compressor) markSent(u uint16) {
	if u < 256 {
		c.low[u] |= pendingFlag
		return
	}
	key := singleKey<<16 | uint64(u)
	mask := uint64(len(c.keys) - 1)
	for p := hash64(key) & mask; c.keys[p] != 0; p = (p + 1) & mask {
		if c.keys[p] == key+1 {
			c.vals[p] |= pendingFlag
			return
		}
	}
}

// spells reports whether the word with code w is exactly s (ASCII).
func (c *compressor) spells(w int32, s string) bool {
	for i := len(s) - 1; i >= 0; i-- {
		if w < 0 || c.last[w] != uint16(s[i]) {
			return false
		}
		w = c.prefix[w]
	}
	return w < 0
}

// appendUTF16 converts UTF-8 to UTF-16 code units.
func appendUTF16(dst []uint16, s []byte) ([]uint16, error) {
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			dst = append(dst, uint16(b))
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size <= 1 {
			return dst, ErrInvalidUTF8
		}
		if r >= 0x10000 {
			r1, r2 := utf16.EncodeRune(r)
			dst = append(dst, uint16(r1), uint16(r2))
		} else {
			dst = append(dst, uint16(r))
		}
		i += size
	}
	return dst, nil
}

// ---------------------------------------------------------------------------
// Decompression

// span is a dictionary entry: every entry is a run of the output so far.
type span struct{ off, n int32 }

type decompressor struct {
	dict []span
	out  []uint16
}

var decPool = sync.Pool{New: func() any { return new(decompressor) }}

// b64 maps the standard Base64 alphabet to 0..63; -1 elsewhere.
var b64 = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := range len(alphabet) {
		t[alphabet[i]] = int8(i)
	}
	return t
}()

// bitReader reads the LZ-String bit stream from Base64 characters, six bits
// per character, most significant first.
type bitReader struct {
	src  []byte
	i    int
	acc  uint64
	nacc uint
}

// read returns the next n bits (n <= 16) as the original assembles them:
// the first bit read is the least significant.
func (r *bitReader) read(n uint) (uint32, bool) {
	for r.nacc < n {
		if r.i >= len(r.src) {
			return 0, false
		}
		r.acc = r.acc<<6 | uint64(b64[r.src[r.i]])
		r.i++
		r.nacc += 6
	}
	r.nacc -= n
	v := uint32(r.acc>>r.nacc) & (1<<n - 1)
	return bits.Reverse32(v) >> (32 - n), true
}

// AppendDecompressFromBase64 decodes src (CleverTap's padded variant, modern
// lz-string's compressToBase64 output, or either without padding) and
// appends the decompressed text as UTF-8. limit bounds the output in UTF-16
// code units (<= 0 means DefaultLimit). On error dst is returned unchanged.
func AppendDecompressFromBase64(dst, src []byte, limit int) ([]byte, error) {
	if limit <= 0 {
		limit = DefaultLimit
	}
	n := len(src)
	for n > 0 && src[n-1] == '=' {
		n--
	}
	if n == 0 {
		return dst, ErrInvalidBase64
	}
	for _, ch := range src[:n] {
		if b64[ch] < 0 {
			return dst, ErrInvalidBase64
		}
	}
	d := decPool.Get().(*decompressor)
	defer func() {
		if cap(d.out) <= maxPooled && cap(d.dict) <= maxPooled {
			decPool.Put(d)
		}
	}()
	out, err := d.decompress(&bitReader{src: src[:n]}, limit)
	if err != nil {
		return dst, err
	}
	return appendUTF8(dst, out)
}

func (d *decompressor) decompress(r *bitReader, limit int) ([]uint16, error) {
	d.out = d.out[:0]
	d.dict = append(d.dict[:0], span{}, span{}, span{}) // 0, 1, 2 are markers
	var (
		enlargeIn      = 4
		numBits   uint = 3
	)
	first, ok := r.read(2)
	if !ok {
		return nil, ErrCorrupt
	}
	var c uint32
	switch first {
	case 0:
		c, ok = r.read(8)
	case 1:
		c, ok = r.read(16)
	case 2:
		return d.out, nil // the empty string
	default:
		return nil, ErrCorrupt
	}
	if !ok {
		return nil, ErrCorrupt
	}
	d.out = append(d.out, uint16(c))
	d.dict = append(d.dict, span{0, 1})
	w := span{0, 1}
	for {
		code, ok := r.read(numBits)
		if !ok {
			return nil, ErrCorrupt
		}
		start := int32(len(d.out))
		switch code {
		case 0, 1:
			width := uint(8)
			if code == 1 {
				width = 16
			}
			u, ok := r.read(width)
			if !ok {
				return nil, ErrCorrupt
			}
			if len(d.out) >= limit {
				return nil, ErrTooLarge
			}
			// A new single unit: written now, its entry points at it.
			d.out = append(d.out, uint16(u))
			d.dict = append(d.dict, span{start, 1})
			enlargeIn--
			if enlargeIn == 0 {
				enlargeIn = 1 << numBits
				numBits++
			}
		case 2:
			return d.out, nil
		default:
			var e span
			switch {
			case int(code) < len(d.dict):
				e = d.dict[code]
			case int(code) == len(d.dict):
				// The word being defined: w followed by its own first unit.
				e = span{w.off, w.n + 1}
			default:
				return nil, ErrCorrupt
			}
			if len(d.out)+int(e.n) > limit {
				return nil, ErrTooLarge
			}
			if int(code) == len(d.dict) {
				d.out = append(d.out, d.out[w.off:w.off+w.n]...)
				d.out = append(d.out, d.out[w.off])
			} else {
				d.out = append(d.out, d.out[e.off:e.off+e.n]...)
			}
		}
		n := int32(len(d.out)) - start
		// w followed by the first unit of this entry is contiguous in the
		// output, since this entry was written right after w.
		d.dict = append(d.dict, span{w.off, w.n + 1})
		enlargeIn--
		w = span{start, n}
		if enlargeIn == 0 {
			enlargeIn = 1 << numBits
			numBits++
		}
	}
}

// appendUTF8 converts UTF-16 code units to UTF-8; lone surrogates are an
// error.
func appendUTF8(dst []byte, units []uint16) ([]byte, error) {
	start := len(dst)
	for i := 0; i < len(units); i++ {
		u := units[i]
		switch {
		case u < utf8.RuneSelf:
			dst = append(dst, byte(u))
		case utf16.IsSurrogate(rune(u)):
			if u >= 0xDC00 || i+1 >= len(units) || units[i+1] < 0xDC00 || units[i+1] > 0xDFFF {
				return dst[:start], ErrInvalidUTF16
			}
			dst = utf8.AppendRune(dst, utf16.DecodeRune(rune(u), rune(units[i+1])))
			i++
		default:
			dst = utf8.AppendRune(dst, rune(u))
		}
	}
	return dst, nil
}
