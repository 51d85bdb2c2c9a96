// Package corpus generates the benchmark payloads: CleverTap Android SDK
// batches (/a1) of 1, 10 and 50 records and REST uploads (/1/upload) of 100
// records, with a realistic mix of personal and non-personal fields.
//
// Output is a pure function of Options: the same seed, variant count,
// account and clock give byte-identical requests, so runs on different days
// or machines send the same bytes. Every value is synthetic (example.com
// addresses, 555 numbers, random hex ids); nothing here is real data.
//
// The package belongs to the bench harness. Tests elsewhere may read the
// files written by `go run ./bench -dump DIR`; product code must not import
// it.
package corpus
