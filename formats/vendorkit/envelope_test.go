package vendorkit

import (
	"strings"
	"testing"

	"github.com/consentry/consentry/formats"
	"github.com/consentry/consentry/formats/formatstest"
	"github.com/consentry/consentry/masking"
)

var testEnvelope = Envelope{Name: "upload body", Array: "events", Items: "events", Item: "event", Credentials: []string{"api_key", "token"}}

func TestEnvelopeSplit(t *testing.T) {
	cases := []struct {
		body, header, err string
		start             int
	}{
		{`{"api_key":"k","events":[1],"x":{"y":2}}`, `{"api_key":"k","x":{"y":2}`, "", 24},
		{`{"api_key":"k","api_key":"k","events":[]}`, `{"api_key":"k","api_key":"k"`, "", 38},
		{`{"x":1}`, `{"x":1`, "", -1},
		{`{"events":[],"events":[]}`, "", `duplicate "events" key in upload body`, 0},
		{`{"events":{}}`, "", `"events" must be an array of events`, 0},
		{`{"token":"jane","token":"x","events":[]}`, "", `upload body has two different "token" values`, 0},
		{`{"api_key":"k",`, "", "", 0},
	}
	for _, c := range cases {
		hdr := GetHeader()
		s, e, err := testEnvelope.Split([]byte(c.body), hdr)
		switch {
		case c.err != "" || c.header == "":
			if err == nil || (c.err != "" && formats.AsError(err).Msg != c.err) {
				t.Errorf("Split(%s): error %v, want %q", c.body, err, c.err)
			}
		case err != nil || s != c.start || string(hdr.obj) != c.header:
			t.Errorf("Split(%s) = %d %d %v, header %s", c.body, s, e, err, hdr.obj)
		case s >= 0 && c.body[e-1] != ']':
			t.Errorf("Split(%s): records span ends at %q", c.body, c.body[e-1])
		}
		PutHeader(hdr)
	}
	if msg := formats.AsError(testEnvelope.Missing()).Msg; msg != `upload body has no "events" array` {
		t.Errorf("Missing() = %q", msg)
	}
}

// TestOpenCleanArray writes an envelope whose header is dropped and whose
// second record is not kept: no stray separators.
func TestOpenCleanArray(t *testing.T) {
	env := formatstest.DropEnv(t)
	hdr := GetHeader()
	defer PutHeader(hdr)
	hdr.Add([]byte("api_key"), []byte(`"k"`))
	dst, err := testEnvelope.Open([]byte("x"), hdr, "test", env, nil)
	if err != nil {
		t.Fatal(err)
	}
	keep := func(dst, raw []byte, idx int) ([]byte, bool, error) {
		if idx == 1 {
			return append(dst, "junk"...), false, nil
		}
		return append(dst, raw...), true, nil
	}
	dst, err = CleanArray(dst, []byte(`[{"a":0}, {"a":1} ,{"a":2}]`), "event", keep)
	if err != nil || string(dst) != `x{"events":[{"a":0},{"a":2}]` {
		t.Errorf("got %s, %v", dst, err)
	}
	out, err := CleanArray([]byte("x"), []byte(`[{},"jane"]`), "event", keep)
	if err == nil || string(out) != "x" || strings.Contains(err.Error(), "jane") || formats.AsError(err).Msg != "event 1 is a string, want an object" {
		t.Errorf("non-object element: %s, %v", out, err)
	}
}

// TestEnvelopeClean cleans the header and the records, and writes nothing
// for a body without records or with a bad record.
func TestEnvelopeClean(t *testing.T) {
	env := formatstest.FuzzEnv(t)
	keep := func(dst, raw []byte, _ int) ([]byte, bool, error) { return append(dst, raw...), true, nil }
	cases := []struct {
		body, want string
		ok         bool
	}{
		{`{"x":"jane","events":[{"a":1}],"api_key":"k"}`, `>{"api_key":"k","events":[{"a":1}]}`, true},
		{`{"events":[]}`, `>{"events":[]}`, true},
		{`{"x":1}`, `>`, false},
		{`{"events":[1]}`, `>`, false},
	}
	for _, c := range cases {
		out, ok, _ := testEnvelope.Clean([]byte(">"), []byte(c.body), env, "test", keyClassifier{}, keep)
		if string(out) != c.want || ok != c.ok {
			t.Errorf("Clean(%s) = %s %v, want %s %v", c.body, out, ok, c.want, c.ok)
		}
	}
}

// TestHeaderClean keeps the members the policy keeps, without braces.
func TestHeaderClean(t *testing.T) {
	hdr := GetHeader()
	defer PutHeader(hdr)
	hdr.Add([]byte("a\"b"), []byte(`1`))
	hdr.Add([]byte("api_key"), []byte(`"k"`))
	out, wrote, err := hdr.Clean([]byte("{"), "test", formatstest.FuzzEnv(t), keyClassifier{})
	if err != nil || !wrote || string(out) != `{"api_key":"k"` {
		t.Errorf("got %s %v %v", out, wrote, err)
	}
}

// keyClassifier keeps auth.account (under formatstest.ClassPlanner) and
// drops the rest.
type keyClassifier struct{}

var _ masking.Classifier = keyClassifier{}

func (keyClassifier) Classify(_, _, key string) string {
	if key == "api_key" {
		return "auth.account"
	}
	return "x.drop"
}
