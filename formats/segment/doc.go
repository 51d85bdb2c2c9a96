// Package segment adapts the Segment Tracking API and RudderStack's copy of
// it: POST /v1/batch ({"batch":[messages], ...}) and the single-message
// paths /v1/track, /v1/identify, /v1/page, /v1/screen, /v1/group and
// /v1/alias (plus the one-letter paths of Segment's browser library). Both
// vendors share the message shape, so one classifier serves the two formats,
// "segment" and "rudderstack"; Detect tells them apart by library markers so
// that each goes to its own upstream (goldens in testdata/).
//
// Each message is one record of kind "identify", "track", "page", "screen",
// "group" or "alias"; the batch's other top-level keys (writeKey, sentAt,
// context, ...) are cleaned as one header record of kind "meta". The subject
// of a message is its userId (identity) and anonymousId (device).
//
// Buffer lifetime: Clean appends to dst and never retains body or dst; the
// account ids from Accounts are views into the body or freshly allocated.
package segment
