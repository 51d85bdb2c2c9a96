package sink

import (
	"testing"

	"github.com/valyala/fasthttp"
)

func TestHandle(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, path, body string
		wantCode         int
		wantBody         string
	}{
		{"sdk batch", "/a1?os=Android&t=70700&z=ACC&ts=1", `[{"type":"meta"},{"type":"event"}]`, 200, `{}`},
		{"rest upload", "/1/upload", `{"d":[{"type":"event"},{"type":"profile"},{"type":"event"}]}`, 200, `{"status":"success","processed":3,"unprocessed":[]}`},
		{"rest empty", "/1/upload", `{"d":[]}`, 200, `{"status":"success","processed":0,"unprocessed":[]}`},
		{"rest without d", "/1/upload", `{"x":1}`, 400, string(badReply)},
		{"unknown path", "/1/delete/profiles.json", `{}`, 404, string(notFoundReply)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var s Sink
			var ctx fasthttp.RequestCtx
			ctx.Request.Header.SetMethod("POST")
			ctx.Request.SetRequestURI(tt.path)
			ctx.Request.SetBodyString(tt.body)
			s.Handle(&ctx)
			if got := ctx.Response.StatusCode(); got != tt.wantCode {
				t.Errorf("status %d, want %d", got, tt.wantCode)
			}
			if got := string(ctx.Response.Body()); got != tt.wantBody {
				t.Errorf("body %s, want %s", got, tt.wantBody)
			}
			if s.Requests() != 1 {
				t.Errorf("requests = %d", s.Requests())
			}
		})
	}
}

func BenchmarkHandleREST(b *testing.B) {
	var s Sink
	var ctx fasthttp.RequestCtx
	body := []byte(`{"d":[{"type":"event","evtData":{"a":[1,2,{"b":"c"}]}},{"type":"profile"}]}`)
	b.ReportAllocs()
	for b.Loop() {
		ctx.Request.Reset()
		ctx.Response.Reset()
		ctx.Request.SetRequestURI("/1/upload")
		ctx.Request.SetBodyRaw(body)
		s.Handle(&ctx)
	}
}
