package clevertap

import "embed"

// Samples are real-shaped payloads seeded with personal data (Android and
// iOS SDK batches, a REST upload). `consentry demo` sends them through the
// proxy; tests and author fixtures use them too.
//
//go:embed samples/*.json
var Samples embed.FS
