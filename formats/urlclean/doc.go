// Package urlclean cleans the URLs that analytics SDKs put in their
// payloads (page URLs, referrers, pathnames, search strings) part by part,
// the same way for every vendor.
//
// A URL is split into its path, its query parameters and its fragment
// (with its own "?" parameters, or OAuth style "#k=v&..."). The parts become
// the fields of one record of kind "url" (Kind) that the tenant's policy
// decides like any record:
//
//	{"path": "/u/jane@example.com", "query": {"email": "jane@example.com", "gclid": "Cj0", "q": "red shoes"},
//	 "fragment": "/reset", "fragment_query": {"token": "abc"}}
//
// Parameter keys get classes by name (ParamClass: email → contact.email,
// token/password/code → auth.secret, gclid/fbclid/msclkid → ad.click_id,
// first name → person.name, ...); the path is web.url_path, the fragment
// web.url_fragment, and other values are unclassified, which the default
// policy scans with the content detectors. Values are percent-decoded
// before they are decided ('+' as a space in parameters) and re-encoded as
// encodeURIComponent would; a parameter or path that the policy leaves as
// it was keeps its exact bytes. User info (user:pass@) is always removed; a
// parameter that does not percent-decode to UTF-8 is dropped.
//
// The CleverTap web adapter cleans its cpg and referrer members and the
// origin parameter with it; the other adapters clean every field that the
// policy decides with scan and the param "url": true (the default policy's
// decision for class web.url), see formats.Env.
package urlclean
