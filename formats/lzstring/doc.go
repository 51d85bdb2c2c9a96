// Package lzstring is a Go port of LZ-String's 16-bit compress() and of its
// decompressor, with the Base64 framing of CleverTap's web SDK.
//
// # The CleverTap variant
//
// The web SDK sends its payloads (the d and arp query parameters) as
//
//	base64_std(UTF-16BE bytes of lzstring.compress(JSON))
//
// that is LZ-String's 16-bit output, each unit written big-endian, then
// ordinary padded Base64 (clevertap-wire.md §6.3). AppendCompressToBase64
// produces exactly that, byte for byte, including a JavaScript quirk of the
// original: the dictionary is a plain object, so the word "__proto__" never
// becomes an entry (assigning to it sets the prototype instead).
//
// Modern lz-string's compressToBase64 writes the same bit stream in 6-bit
// characters and pads to a multiple of four characters, so its tail can
// differ ("{}" is "N4XyAA==" from CleverTap and "N4XyA===" from lz-string).
// AppendDecompressFromBase64 reads the bit stream and accepts both.
//
// # Strings
//
// LZ-String works on UTF-16 code units. Inputs are UTF-8 and are converted
// (runes above U+FFFF become surrogate pairs); outputs are converted back.
// Invalid UTF-8 input, a lone surrogate in decompressed output, a corrupt
// stream and output beyond the caller's limit are errors: callers drop
// what they cannot decode.
//
// # Buffers
//
// Both functions append to dst and keep no reference to their arguments.
// Working memory comes from a sync.Pool; they are safe for concurrent use.
package lzstring
