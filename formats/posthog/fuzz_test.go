package posthog

import (
	"testing"

	"github.com/consentry/consentry/formats"
	"github.com/consentry/consentry/formats/formatstest"
	"github.com/consentry/consentry/masking"
)

// FuzzClean: never panics; errors are client errors; output (decoded
// when a form) is valid JSON; under a drop-all policy no string or number
// survives.
func FuzzClean(f *testing.F) {
	formatstest.SeedBodies(f)
	f.Add([]byte(`data=W3siZXZlbnQiOiJ4In1d`))
	env, drop := formatstest.FuzzEnv(f), formatstest.DropEnv(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		Detect(nil, body)
		Accounts(nil, nil, body)
		for _, e := range []*formats.Env{env, drop} {
			out, res, err := Clean(nil, body, e)
			if formatstest.Refused(t, err) {
				continue
			}
			formatstest.CheckResult(t, res)
			if res.AllDropped {
				continue
			}
			js := out
			if i := masking.SkipSpace(out, 0); i < len(out) && out[i] != '{' && out[i] != '[' {
				if js, _, err = formPayload(nil, out); err != nil {
					t.Fatalf("output form %q does not decode: %v", out, err)
				}
			}
			formatstest.CheckJSON(t, js, body, e == drop)
		}
	})
}
