package proxy

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"sync"
)

var (
	errTooLarge  = errors.New("decompressed body exceeds limits.max_decompressed_bytes")
	errRatio     = errors.New("body compression ratio exceeds limits.max_compression_ratio (possible gzip bomb)")
	errBadGzip   = errors.New("body is not valid gzip")
	gzipReaders  sync.Pool
	gzipWriters  = sync.Pool{New: func() any { w, _ := gzip.NewWriterLevel(nil, gzip.DefaultCompression); return w }}
	bytesReaders = sync.Pool{New: func() any { return new(bytes.Reader) }}
)

// gunzip appends the decompressed src to dst, refusing output beyond
// maxOut bytes or beyond maxRatio times the compressed size.
func gunzip(dst, src []byte, maxOut, maxRatio int) ([]byte, error) {
	limit := maxOut
	ratioBound := false
	if r := len(src) * maxRatio; r < limit {
		limit, ratioBound = r, true
	}
	br := bytesReaders.Get().(*bytes.Reader)
	defer bytesReaders.Put(br)
	br.Reset(src)
	var zr *gzip.Reader
	if v := gzipReaders.Get(); v != nil {
		zr = v.(*gzip.Reader)
		if err := zr.Reset(br); err != nil {
			gzipReaders.Put(zr)
			return dst, errBadGzip
		}
	} else {
		var err error
		if zr, err = gzip.NewReader(br); err != nil {
			return dst, errBadGzip
		}
	}
	defer gzipReaders.Put(zr)
	start := len(dst)
	for {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		n, err := zr.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if len(dst)-start > limit {
			if ratioBound {
				return dst[:start], errRatio
			}
			return dst[:start], errTooLarge
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst[:start], errBadGzip
		}
	}
}

// appendGzip appends src compressed with gzip to dst.
func appendGzip(dst, src []byte) []byte {
	buf := bytes.NewBuffer(dst)
	zw := gzipWriters.Get().(*gzip.Writer)
	zw.Reset(buf)
	_, _ = zw.Write(src)
	_ = zw.Close()
	gzipWriters.Put(zw)
	return buf.Bytes()
}
