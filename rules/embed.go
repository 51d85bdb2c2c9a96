// Package rules ships Consentry's default Rego policy and its Rego unit tests.
//
// The policy lives in rules/consentry (package consentry); see README.md for the
// input contract, the class vocabulary and the default decision of each class.
// policy.New loads FS without the *_test.rego files; policy.RunTests runs them.
package rules

import "embed"

// FS holds consentry/*.rego (policy and tests), read-only and built into the binary.
//
//go:embed consentry
var FS embed.FS

// Fixtures holds fixtures/*.yaml, the payload fixtures of the shipped
// policy (`consentry rules export` writes them out with their payloads).
//
//go:embed fixtures
var Fixtures embed.FS
