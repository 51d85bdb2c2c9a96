package e2e

import (
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

// Rectification: a server-side profile update for a real identity (the
// vendor's REST or HTTP API, which a controller uses to correct a person's
// data) must land on the same pseudonymised profile that the person's SDK
// traffic writes to — the same keyed hash for the identity and the same
// token for the e-mail — or the correction would create a second profile
// and leave the wrong data in place. One pair per vendor with a profile
// API that formats/ supports.
func TestRectificationReachesTheSDKProfile(t *testing.T) {
	t.Parallel()
	v := vendorAPIs(t)
	cfg, _ := erasureConfig(t, v, "")
	cs := start(t, "--config", cfg)
	const (
		user  = "rectify-user-3301"
		email = "Rectify.Me@example.com"
	)
	// send posts one request and returns the body the vendor received.
	var t2 *testing.T // the running subtest
	send := func(vendor, path, body string, hdr map[string]string) string {
		t := t2
		t.Helper()
		before := len(v[vendor].up.requests())
		resp, b := post(t, cs.url+path, []byte(body), hdr)
		reqs := v[vendor].up.requests()
		if resp.StatusCode != 200 || len(reqs) != before+1 {
			t.Fatalf("%s %s: %d %s (forwarded %d)", vendor, path, resp.StatusCode, b, len(reqs)-before)
		}
		return string(reqs[len(reqs)-1].Body)
	}
	mixpanelBody := func(vendor, path, records string) string {
		t := t2
		t.Helper()
		before := len(v[vendor].up.requests())
		mixpanelSend(t, cs, path, records)
		reqs := v[vendor].up.requests()
		if len(reqs) != before+1 {
			t.Fatalf("mixpanel %s not forwarded", path)
		}
		return string(mixpanelData(t, reqs[len(reqs)-1])[0])
	}
	type side struct{ id, email string }
	pick := func(body, id, mail string) side {
		return side{gjson.Get(body, id).String(), gjson.Get(body, mail).String()}
	}
	for _, c := range []struct {
		name     string
		sdk, api func() side
	}{
		{"clevertap: SDK /a1 vs REST /1/upload",
			func() side {
				b := send("clevertap", "/a1?z="+account, string(sdkBatch("__r1", profile(`"Identity":"`+user+`","Email":"`+email+`"`))), nil)
				return pick(b, `#(type=="profile").profile.Identity`, `#(type=="profile").profile.Email`)
			},
			func() side {
				b := send("clevertap", "/1/upload", `{"d":[{"identity":"`+user+`","type":"profile","profileData":{"Email":"`+email+`"}}]}`,
					map[string]string{"X-CleverTap-Account-Id": account, "X-CleverTap-Passcode": "CT-PASSCODE-9"})
				return pick(b, "d.0.identity", "d.0.profileData.Email")
			}},
		{"segment: analytics.js /v1/i vs HTTP API /v1/identify",
			func() side {
				b := send("segment", "/v1/i", `{"type":"identify","userId":"`+user+`","anonymousId":"anon-r1","traits":{"email":"`+email+`"},"writeKey":"SEG_WEB_KEY","messageId":"ajs-r1"}`, nil)
				return pick(b, "userId", "traits.email")
			},
			func() side {
				b := send("segment", "/v1/identify", `{"userId":"`+user+`","traits":{"email":"`+email+`"},"messageId":"srv-r1"}`,
					map[string]string{"Authorization": basic("SEG_SERVER_KEY")})
				return pick(b, "userId", "traits.email")
			}},
		{"mixpanel: /track vs /engage $set",
			func() side {
				b := mixpanelBody("mixpanel", "/track/", `[{"event":"Viewed","properties":{"token":"MP_TOKEN","distinct_id":"`+user+`","$email":"`+email+`"}}]`)
				return pick(b, "0.properties.distinct_id", "0.properties.$email")
			},
			func() side {
				b := mixpanelBody("mixpanel", "/engage/", `[{"$token":"MP_TOKEN","$distinct_id":"`+user+`","$set":{"$email":"`+email+`"}}]`)
				return pick(b, "0.$distinct_id", "0.$set.$email")
			}},
		{"amplitude: event vs $identify",
			func() side {
				b := send("amplitude", "/2/httpapi", `{"api_key":"AMP_KEY","events":[{"event_type":"Viewed","user_id":"`+user+`","event_properties":{"email":"`+email+`"}}]}`, nil)
				return pick(b, "events.0.user_id", "events.0.event_properties.email")
			},
			func() side {
				b := send("amplitude", "/2/httpapi", `{"api_key":"AMP_KEY","events":[{"event_type":"$identify","user_id":"`+user+`","user_properties":{"$set":{"email":"`+email+`"}}}]}`, nil)
				return pick(b, "events.0.user_id", "events.0.user_properties.$set.email")
			}},
		{"posthog: posthog-js event vs $identify with $set",
			func() side {
				b := send("posthog", "/e/", `{"api_key":"phc_KEY","event":"$pageview","properties":{"distinct_id":"`+user+`","email":"`+email+`"}}`, nil)
				return pick(b, "properties.distinct_id", "properties.email")
			},
			func() side {
				b := send("posthog", "/batch/", `{"api_key":"phc_KEY","batch":[{"event":"$identify","distinct_id":"`+user+`","properties":{"$set":{"email":"`+email+`"}}}]}`, nil)
				return pick(b, "batch.0.distinct_id", "batch.0.properties.$set.email")
			}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t2 = t
			sdk, api := c.sdk(), c.api()
			if sdk.id == "" || sdk.id == user || strings.Contains(sdk.email, "example.com") || sdk.email == "" {
				t.Fatalf("the SDK traffic did not carry a pseudonymised identity and e-mail: %+v", sdk)
			}
			if api != sdk {
				t.Errorf("the profile API writes to %+v, the SDK traffic to %+v", api, sdk)
			}
		})
	}
}
