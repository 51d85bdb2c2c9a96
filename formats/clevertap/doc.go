// Package clevertap adapts CleverTap's wire formats: the Android/iOS SDK
// batch (POST /a1: a JSON array of a "meta" header and records, optionally
// wrapped in an Encryption-in-Transit envelope) and the REST upload
// (POST /1/upload: {"d":[records]}), as the Android, iOS, web and REST
// clients send them (samples/ and testdata/ hold captured payloads).
package clevertap
