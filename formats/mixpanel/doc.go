// Package mixpanel adapts Mixpanel's ingestion API: /track, /engage,
// /groups (GET or POST) and /import (POST), with or without a trailing
// slash. The payload is the "data" parameter — base64 of JSON (or plain
// JSON) in the query string or in a form body — or, for POST, a JSON or
// NDJSON body (goldens in testdata/).
//
// Form bodies are parsed by hand: the node client sends the base64 raw
// after "data=", so a literal '+' is a base64 digit, not a space, and the
// standard form decoder would corrupt it. The cleaned payload is written
// back in the encoding it came in (the same base64 alphabet and padding,
// raw or percent-encoded), and the other parameters (ip, verbose, ...) are
// cleaned as one "meta" header: the default policy turns ip=1, which asks
// Mixpanel to geolocate the request's address, into ip=0.
//
// Records: each event of /track and /import is kind "event" (named by its
// "event"), each /engage update kind "profile", each /groups update kind
// "group". The subject is $user_id or distinct_id (identity) and $device_id
// (device). The project token inside the data is the account.
//
// Mixpanel has no opt-out signal on the wire: its SDKs stop sending on the
// device. They do track "$opt_in" when a user opts back in; the adapter does
// not report it as a signal, because without a matching opt-out on the wire
// it could only lift suppressions that were learned elsewhere.
//
// Buffer lifetime: Clean and CleanQuery append to dst and never retain the
// body, the query or dst.
package mixpanel
