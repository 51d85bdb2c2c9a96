//go:build !race

package lzstring

import "testing"

// Both directions run on pooled working memory: no allocation per call
// once dst has room.
func TestNoAllocations(t *testing.T) {
	in := benchPayload()
	enc, _ := AppendCompressToBase64(nil, in)
	dst := make([]byte, 0, 4096)
	if n := testing.AllocsPerRun(200, func() { dst, _ = AppendCompressToBase64(dst[:0], in) }); n != 0 {
		t.Errorf("compress: %v allocs per call", n)
	}
	if n := testing.AllocsPerRun(200, func() { dst, _ = AppendDecompressFromBase64(dst[:0], enc, 0) }); n != 0 {
		t.Errorf("decompress: %v allocs per call", n)
	}
}
