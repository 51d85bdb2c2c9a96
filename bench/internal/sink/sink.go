// Package sink is the harness's stand-in for the CleverTap backend: a
// fasthttp server that answers /a1 and /1/upload the way CleverTap does and
// throws the body away.
package sink

import (
	"strconv"
	"sync/atomic"

	"github.com/tidwall/gjson"
	"github.com/valyala/fasthttp"
)

// Replies as recorded from CleverTap (clevertap-wire.md §2, §10.1).
var (
	sdkReply      = []byte(`{}`)
	restPrefix    = []byte(`{"status":"success","processed":`)
	restSuffix    = []byte(`,"unprocessed":[]}`)
	notFoundReply = []byte(`{"status":"fail","error":"not found","code":404}`)
	badReply      = []byte(`{"status":"fail","error":"body is not a JSON object with a d array","code":400}`)
)

// Sink answers like CleverTap. It counts requests so that tests can check
// traffic arrived; it keeps nothing else.
type Sink struct {
	requests atomic.Int64
}

// Requests returns how many requests the sink has answered.
func (s *Sink) Requests() int64 { return s.requests.Load() }

// Handle answers one request:
//   - /a1 (SDK batches): 200 {}
//   - /1/upload (REST): 200 {"status":"success","processed":N,"unprocessed":[]}
//     with N the number of records in d
//   - anything else: 404, so that a misrouting proxy shows up as errors.
func (s *Sink) Handle(ctx *fasthttp.RequestCtx) {
	s.requests.Add(1)
	ctx.Response.Header.SetContentType("application/json;charset=utf-8")
	switch string(ctx.Path()) {
	case "/a1":
		ctx.SetBody(sdkReply)
	case "/1/upload":
		n := gjson.GetBytes(ctx.PostBody(), "d.#")
		if n.Type != gjson.Number {
			ctx.SetStatusCode(fasthttp.StatusBadRequest)
			ctx.SetBody(badReply)
			return
		}
		var num [20]byte
		ctx.SetBody(restPrefix)
		ctx.Response.AppendBody(strconv.AppendInt(num[:0], n.Int(), 10))
		ctx.Response.AppendBody(restSuffix)
	default:
		ctx.SetStatusCode(fasthttp.StatusNotFound)
		ctx.SetBody(notFoundReply)
	}
}

// NewServer returns the sink's fasthttp server. Keep-alive connections
// never time out, so that a proxy's pooled upstream connections stay valid
// however long other contenders run between its rounds.
func NewServer(s *Sink) *fasthttp.Server {
	return &fasthttp.Server{
		Handler:                       s.Handle,
		Name:                          "bench-sink",
		NoDefaultServerHeader:         true,
		NoDefaultDate:                 true,
		DisableHeaderNamesNormalizing: true,
		MaxRequestBodySize:            16 << 20,
		ReadBufferSize:                16 << 10,
		// ReadTimeout and IdleTimeout 0: no idle limit (see above).
	}
}
