// Package posthog adapts PostHog's capture API: POST /batch/, /capture/,
// /e/ and /i/v0/e/ (also without the trailing slash; /batch is shared with
// Amplitude and claimed by Detect). A body is an envelope {"api_key",
// "batch":[events], "sent_at", ...}, an array of events, one event, or a
// form body data=<base64 or JSON> (posthog-js with compression=base64).
// Gzip, labelled or not, is undone by the proxy (goldens in testdata/).
//
// Each event is one record: kind "identify" for $identify and $set, "alias"
// for $create_alias, "group" for $groupidentify, "event" (named by its
// "event") for the others. The envelope's other keys are cleaned as one
// "meta" header. The subject is distinct_id (identity; posthog-js puts it
// in properties) and properties.$device_id or $anon_distinct_id (device).
// Person properties are in properties.$set / $set_once and, in the Go
// client, in $set at the event's top level.
//
// PostHog has no opt-out signal on the wire: posthog-js's opt_out_capturing
// stops sending on the device. Its opt-in sends a "$opt_in" event, which the
// adapter does not report as a signal (without a matching opt-out it could
// only lift suppressions learned elsewhere).
//
// Buffer lifetime: Clean appends to dst and never retains body or dst.
package posthog
