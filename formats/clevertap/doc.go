// Package clevertap adapts CleverTap's wire formats: the Android/iOS SDK
// batch (POST /a1: a JSON array of a "meta" header and records, optionally
// wrapped in an Encryption-in-Transit envelope) and the REST upload
// (POST /1/upload: {"d":[records]}). See shared/reference/clevertap-wire.md.
package clevertap
