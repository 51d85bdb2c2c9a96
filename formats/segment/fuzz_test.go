package segment

import (
	"testing"

	"github.com/consentry/consentry/formats"
	"github.com/consentry/consentry/formats/formatstest"
)

// FuzzCleanBatch: never panics; output is valid JSON; under a drop-all
// policy no string or number of the input survives (only structure).
func FuzzCleanBatch(f *testing.F) {
	formatstest.SeedBodies(f)
	f.Add([]byte(`{"batch":[{"type":"track","userId":"jane.doe@example.com","e\u006dail":"jane.doe@example.com"}],"x":"+14155550123"}`))
	env, drop := formatstest.FuzzEnv(f), formatstest.DropEnv(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, e := range []*formats.Env{env, drop} {
			out, res, err := CleanBatch(nil, body, e, FormatSegment)
			if formatstest.Refused(t, err) {
				continue
			}
			formatstest.CheckJSON(t, out, body, e == drop)
			formatstest.CheckResult(t, res)
		}
	})
}

// FuzzCleanMessage is FuzzCleanBatch for the single-message paths.
func FuzzCleanMessage(f *testing.F) {
	formatstest.SeedBodies(f)
	env, drop := formatstest.FuzzEnv(f), formatstest.DropEnv(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, e := range []*formats.Env{env, drop} {
			out, _, err := CleanMessage(nil, body, e, FormatRudderStack, "track")
			if err != nil {
				continue
			}
			formatstest.CheckJSON(t, out, body, e == drop)
		}
	})
}

// FuzzDetectAccounts: never panics on any body or header.
func FuzzDetectAccounts(f *testing.F) {
	formatstest.SeedBodies(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		req := &formatstest.Request{Headers: map[string]string{"authorization": "Basic " + string(body)}, Body: body}
		IsRudderStack(req, body)
		Accounts(nil, req, body)
	})
}
