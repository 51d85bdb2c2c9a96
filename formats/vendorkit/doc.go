// Package vendorkit holds what the JSON vendor adapters (amplitude,
// mixpanel, posthog, segment) share, so that a fix to one of them reaches
// all: the key-name table of personal data and the path helpers of their
// classifiers, field readers over a parsed record, the "meta" header of an
// envelope, the records array of a batch, and the form and base64 codec of
// "data" parameters (Mixpanel, posthog-js).
//
// It knows no vendor: member names, the nouns of error messages and the
// classes of vendor-specific keys come from the adapters.
//
// Buffer lifetime: functions append to dst and keep no reference to their
// arguments, except that views they return (Param fields, Parsed values)
// point into the buffers they were given and live as long as those.
package vendorkit
