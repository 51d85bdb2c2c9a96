// Package passthrough is the harness's physical-limit contender: a bare
// fasthttp reverse proxy that forwards every request to one upstream with
// a pooled HostClient and does no body work at all. Whatever Consentry
// spends beyond this proxy is the price of inspecting and rewriting.
//
// Bodies are never copied or kept: the request and response of the
// handler's RequestCtx are handed to HostClient.Do directly and die with
// the handler (fasthttp's buffer-lifetime rule).
package passthrough

import (
	"bytes"
	"time"

	"github.com/valyala/fasthttp"
)

// Listener and client settings: the same as Consentry's proxy package
// with its default limits, so that the two differ only in the work done per
// request.
const (
	MaxBodySize          = 4 << 20  // config.DefaultMaxBodyBytes
	ReadBufferSize       = 16 << 10 // config.DefaultMaxHeaderBytes
	ReadTimeout          = 30 * time.Second
	WriteTimeout         = 30 * time.Second
	IdleTimeout          = 60 * time.Second
	UpstreamMaxConns     = 512
	UpstreamIdleDuration = 5 * time.Second // below common upstream idle timeouts (fasthttp #791)
	UpstreamTimeout      = 30 * time.Second
	MaxResponseBodySize  = 16 << 20
)

// Proxy forwards requests to one upstream address.
type Proxy struct {
	client *fasthttp.HostClient
}

// New returns a proxy to upstream ("127.0.0.1:8080").
func New(upstream string) *Proxy {
	return &Proxy{client: &fasthttp.HostClient{
		Addr:                          upstream,
		MaxConns:                      UpstreamMaxConns,
		MaxIdleConnDuration:           UpstreamIdleDuration,
		ReadTimeout:                   UpstreamTimeout,
		WriteTimeout:                  UpstreamTimeout,
		MaxResponseBodySize:           MaxResponseBodySize,
		NoDefaultUserAgentHeader:      true,
		DisableHeaderNamesNormalizing: true,
		DisablePathNormalizing:        true,
	}}
}

var badGateway = []byte(`{"status":"fail","error":"upstream unavailable","code":502}`)

// Handle forwards one request and passes the upstream's reply back.
func (p *Proxy) Handle(ctx *fasthttp.RequestCtx) {
	StripRequest(&ctx.Request.Header)
	if err := p.client.Do(&ctx.Request, &ctx.Response); err != nil {
		ctx.Response.Reset()
		ctx.SetStatusCode(fasthttp.StatusBadGateway)
		ctx.SetContentType("application/json")
		ctx.SetBody(badGateway)
		return
	}
	StripResponse(&ctx.Response.Header)
}

// NewServer returns the listener the passthrough runs with. Like
// Consentry's, it keeps header names as sent, so hop-by-hop names are
// matched in their canonical spelling only.
func NewServer(h fasthttp.RequestHandler) *fasthttp.Server {
	return &fasthttp.Server{
		Handler:                       h,
		MaxRequestBodySize:            MaxBodySize,
		ReadBufferSize:                ReadBufferSize,
		ReadTimeout:                   ReadTimeout,
		WriteTimeout:                  WriteTimeout,
		IdleTimeout:                   IdleTimeout,
		CloseOnShutdown:               true,
		NoDefaultServerHeader:         true,
		NoDefaultContentType:          true,
		DisableHeaderNamesNormalizing: true,
		DisablePreParseMultipartForm:  true,
	}
}

// Hop-by-hop headers (RFC 9110 §7.6.1 and the classic RFC 2616 list);
// fasthttp does not remove them itself.
var hopByHop = []string{
	"Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization",
	"TE", "Trailer", "Transfer-Encoding", "Upgrade",
}

// header is what StripRequest/StripResponse need from fasthttp's two
// header types.
type header interface {
	Peek(key string) []byte
	DelBytes(key []byte)
	Del(key string)
	ResetConnectionClose()
}

func strip(h header) {
	// Headers named by Connection are hop-by-hop too. Copy the value
	// first: Peek's slice lives in the header being edited.
	var buf [256]byte
	conn := append(buf[:0], h.Peek("Connection")...)
	for len(conn) > 0 {
		var tok []byte
		tok, conn, _ = bytes.Cut(conn, []byte{','})
		tok = bytes.TrimSpace(tok)
		if len(tok) > 0 && !bytes.EqualFold(tok, []byte("close")) && !bytes.EqualFold(tok, []byte("keep-alive")) {
			h.DelBytes(tok)
		}
	}
	// A client's "Connection: close" must not close the pooled upstream
	// connection (fasthttp #64), nor an upstream's close the client's.
	h.ResetConnectionClose()
	h.Del("Connection")
	for _, k := range hopByHop {
		h.Del(k)
	}
}

// StripRequest removes hop-by-hop headers before forwarding upstream.
func StripRequest(h *fasthttp.RequestHeader) { strip(h) }

// StripResponse removes hop-by-hop headers before replying to the client.
func StripResponse(h *fasthttp.ResponseHeader) { strip(h) }
