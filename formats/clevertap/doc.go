// Package clevertap adapts CleverTap's wire formats: the Android/iOS SDK
// batch (POST /a1: a JSON array of a "meta" header and records, optionally
// wrapped in an Encryption-in-Transit envelope) and the REST upload
// (POST /1/upload: {"d":[records]}), as the Android, iOS, web and REST
// clients send them (samples/ and testdata/ hold captured payloads), and the
// REST API's rights routes: deletion, campaigns, and the access downloads
// (access.go) whose identifiers are translated as uploads carry them.
package clevertap
