package masking

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"errors"
	"fmt"
)

// AES-SIV (RFC 5297): S2V built on AES-CMAC (RFC 4493) for the synthetic IV,
// then AES-CTR keyed with the second half of the key. It is deterministic
// authenticated encryption: equal inputs give equal tokens (so tokens join),
// and any change to a token fails authentication.
//
// The block cipher is reached through the cipher.Block interface, whose
// arguments escape; every buffer handed to it therefore lives in a heap
// sivScratch (pooled by the Transformer) so that sealing does not allocate.

const sivBlock = aes.BlockSize

// errSIVAuth is the one error of open: the token was not made with this key
// and associated data, or was changed.
var errSIVAuth = errors.New("authentication failed")

type siv struct {
	mac    cipher.Block // K1, for S2V
	ctr    cipher.Block // K2, for CTR
	k1, k2 [sivBlock]byte
}

// sivScratch holds every buffer that crosses the cipher.Block interface.
type sivScratch struct {
	x   [sivBlock]byte // CMAC chaining value
	buf [sivBlock]byte // CMAC pending block
	n   int            // bytes in buf
	d   [sivBlock]byte // S2V accumulator
	t   [sivBlock]byte // CMAC output
	q   [sivBlock]byte // CTR counter
	ks  [sivBlock]byte // CTR key stream
}

// newSIV takes a 32-, 48- or 64-byte key: two AES keys of equal size, the
// first for S2V and the second for CTR.
func newSIV(key []byte) (*siv, error) {
	switch len(key) {
	case 32, 48, 64:
	default:
		return nil, fmt.Errorf("cannot create AES-SIV: key has %d bytes, want 32, 48 or 64", len(key))
	}
	h := len(key) / 2
	mac, err := aes.NewCipher(key[:h])
	if err != nil {
		return nil, fmt.Errorf("cannot create AES-SIV: %w", err)
	}
	ctr, err := aes.NewCipher(key[h:])
	if err != nil {
		return nil, fmt.Errorf("cannot create AES-SIV: %w", err)
	}
	s := &siv{mac: mac, ctr: ctr}
	// RFC 4493 subkeys: L = AES(K, 0), K1 = dbl(L), K2 = dbl(K1).
	var l [sivBlock]byte
	mac.Encrypt(l[:], l[:])
	s.k1 = l
	dbl(&s.k1)
	s.k2 = s.k1
	dbl(&s.k2)
	return s, nil
}

// dbl multiplies b by x in GF(2^128) (RFC 5297 section 2.3).
func dbl(b *[sivBlock]byte) {
	carry := b[0] >> 7
	for i := 0; i < sivBlock-1; i++ {
		b[i] = b[i]<<1 | b[i+1]>>7
	}
	b[sivBlock-1] <<= 1
	b[sivBlock-1] ^= 0x87 & -carry
}

func xorBlock(dst, src *[sivBlock]byte) {
	for i := range dst {
		dst[i] ^= src[i]
	}
}

// CMAC as a stream: the last block is held back until cmacSum because it is
// treated differently (K1 if complete, padding and K2 if not).
func (s *siv) cmacReset(st *sivScratch) {
	st.x = [sivBlock]byte{}
	st.n = 0
}

func (s *siv) cmacWrite(st *sivScratch, p []byte) {
	for len(p) > 0 {
		if st.n == sivBlock {
			xorBlock(&st.x, &st.buf)
			s.mac.Encrypt(st.x[:], st.x[:])
			st.n = 0
		}
		k := copy(st.buf[st.n:], p)
		st.n += k
		p = p[k:]
	}
}

// cmacSum finishes the MAC into st.t.
func (s *siv) cmacSum(st *sivScratch) {
	if st.n == sivBlock {
		xorBlock(&st.buf, &s.k1)
	} else {
		st.buf[st.n] = 0x80
		clear(st.buf[st.n+1:])
		xorBlock(&st.buf, &s.k2)
	}
	xorBlock(&st.x, &st.buf)
	s.mac.Encrypt(st.t[:], st.x[:])
}

// s2vStart sets st.d to the S2V state after the associated data components:
// D = CMAC(zero), then D = dbl(D) xor CMAC(Si) for each component.
func (s *siv) s2vStart(st *sivScratch, ad ...[]byte) {
	s.cmacReset(st)
	var zero [sivBlock]byte
	s.cmacWrite(st, zero[:])
	s.cmacSum(st)
	st.d = st.t
	for _, a := range ad {
		s.cmacReset(st)
		s.cmacWrite(st, a)
		s.cmacSum(st)
		dbl(&st.d)
		xorBlock(&st.d, &st.t)
	}
}

// s2vFinish runs the last S2V step over the plaintext p, starting from d,
// and leaves the synthetic IV in st.t.
func (s *siv) s2vFinish(st *sivScratch, d *[sivBlock]byte, p []byte) {
	st.d = *d
	s.cmacReset(st)
	if len(p) >= sivBlock {
		// T = p xorend D
		s.cmacWrite(st, p[:len(p)-sivBlock])
		copy(st.q[:], p[len(p)-sivBlock:])
		xorBlock(&st.q, &st.d)
		s.cmacWrite(st, st.q[:])
	} else {
		// T = dbl(D) xor pad(p)
		dbl(&st.d)
		st.q = [sivBlock]byte{}
		copy(st.q[:], p)
		st.q[len(p)] = 0x80
		xorBlock(&st.q, &st.d)
		s.cmacWrite(st, st.q[:])
	}
	s.cmacSum(st)
}

// ctrXOR appends in xor the AES-CTR key stream that starts at the counter
// derived from iv (bits 31 and 63 cleared, RFC 5297 section 2.5).
func (s *siv) ctrXOR(dst []byte, st *sivScratch, iv *[sivBlock]byte, in []byte) []byte {
	st.q = *iv
	st.q[8] &= 0x7f
	st.q[12] &= 0x7f
	for len(in) > 0 {
		s.ctr.Encrypt(st.ks[:], st.q[:])
		n := min(len(in), sivBlock)
		for i := 0; i < n; i++ {
			dst = append(dst, in[i]^st.ks[i])
		}
		in = in[n:]
		for i := sivBlock - 1; i >= 0; i-- {
			st.q[i]++
			if st.q[i] != 0 {
				break
			}
		}
	}
	return dst
}

// seal appends V || C for plaintext p; d is the S2V state after the
// associated data (see s2vStart).
func (s *siv) seal(dst []byte, st *sivScratch, d *[sivBlock]byte, p []byte) []byte {
	s.s2vFinish(st, d, p)
	iv := st.t
	dst = append(dst, iv[:]...)
	return s.ctrXOR(dst, st, &iv, p)
}

// open appends the plaintext of V || C to dst, or returns errSIVAuth with
// dst unchanged.
func (s *siv) open(dst []byte, st *sivScratch, d *[sivBlock]byte, c []byte) ([]byte, error) {
	if len(c) < sivBlock {
		return dst, errSIVAuth
	}
	var iv [sivBlock]byte
	copy(iv[:], c[:sivBlock])
	n := len(dst)
	dst = s.ctrXOR(dst, st, &iv, c[sivBlock:])
	s.s2vFinish(st, d, dst[n:])
	if subtle.ConstantTimeCompare(st.t[:], iv[:]) != 1 {
		clear(dst[n:])
		return dst[:n], errSIVAuth
	}
	return dst, nil
}

// sivEncrypt and sivDecrypt are the plain RFC 5297 interface over any
// number of associated data components; tests use them with the RFC
// vectors, Detokenize uses sivDecrypt.
func sivEncrypt(key, plaintext []byte, ad ...[]byte) ([]byte, error) {
	s, err := newSIV(key)
	if err != nil {
		return nil, err
	}
	st := new(sivScratch)
	s.s2vStart(st, ad...)
	d := st.d
	return s.seal(nil, st, &d, plaintext), nil
}

func sivDecrypt(key, ciphertext []byte, ad ...[]byte) ([]byte, error) {
	s, err := newSIV(key)
	if err != nil {
		return nil, err
	}
	st := new(sivScratch)
	s.s2vStart(st, ad...)
	d := st.d
	return s.open(nil, st, &d, ciphertext)
}
