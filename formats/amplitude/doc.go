// Package amplitude adapts Amplitude's HTTP V2 and Batch APIs: POST
// /2/httpapi and POST /batch, both {"api_key", "events":[...], "options",
// "client_upload_time"}, as the Node and Go SDKs send them (goldens in testdata/).
//
// Each event is one record: kind "identify" for "$identify", "group" for
// "$groupidentify", "event" (named by event_type) for everything else. The
// envelope's other keys are cleaned as one "meta" header. An event's subject
// is its user_id (identity) and device_id (device). Amplitude keeps the
// device's advertising ids (idfa, adid), vendor ids (idfv, android_id),
// carrier, IP and coordinates at the top level of each event; user
// properties sit under update operations ($set, $setOnce, ...).
//
// Amplitude has no opt-out or consent signal on the wire (its SDKs' optOut
// stops sending on the device), so the adapter reports no Signals.
//
// Buffer lifetime: Clean appends to dst and never retains body or dst.
package amplitude
