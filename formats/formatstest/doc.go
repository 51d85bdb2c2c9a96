// Package formatstest is the test kit of the vendor adapters: the shipped
// default policy with fixed keys (deterministic goldens), requests read from
// testdata/*.http files, dispatch the way the proxy does it, golden files
// with -update, a fake rights registry, and the checks that fuzz targets and
// golden tests share (no seeded personal value survives, drop-all leaves
// structure only, refusals are 400s that echo no value).
//
// Import it from _test.go files only: it loads the policy and registers the
// -update flag.
//
// A testdata request file holds
//
//	POST /path?query
//	Header: value
//
//	body
package formatstest
