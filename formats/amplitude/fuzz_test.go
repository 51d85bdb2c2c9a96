package amplitude

import (
	"testing"

	"github.com/consentry/consentry/formats"
	"github.com/consentry/consentry/formats/formatstest"
)

// FuzzClean: never panics; errors are client errors; output is valid
// JSON; under a drop-all policy no string or number survives.
func FuzzClean(f *testing.F) {
	formatstest.SeedBodies(f)
	f.Add([]byte(`{"api_key":"k","events":[{"event_type":"x","user_properties":{"$set":{"e\u006dail":"jane.doe@example.com"}}}],"x":"+14155550123"}`))
	env, drop := formatstest.FuzzEnv(f), formatstest.DropEnv(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		Detect(nil, body)
		Accounts(nil, nil, body)
		for _, e := range []*formats.Env{env, drop} {
			out, res, err := Clean(nil, body, e)
			if formatstest.Refused(t, err) {
				continue
			}
			formatstest.CheckJSON(t, out, body, e == drop)
			formatstest.CheckResult(t, res)
		}
	})
}
