// Package masking applies a tenant's field decisions to JSON records in one
// pass: the actions (keep, drop, redact, hash, tokenize, mask, generalize,
// scan), the content detectors behind scan, and the rewriter that splices
// the results into the document.
//
// # Decisions
//
// A Decision (action, Params, rule id) comes from a Planner per record
// shape; policies never see values. ParseAction and ParseParams validate
// what a policy returns; any error means drop.
//
// # Actions
//
// Transformer.Apply turns one leaf value (its raw JSON token and type) into
// its replacement, appended to a caller buffer. It is type-aware: a phone
// number sent as a JSON number is still scanned as a phone, a tokenized
// number detokenizes to a number, redact keeps the JSON type (strings
// "[REDACTED]", numbers 0, booleans false, null null). hash is keyed
// HMAC-SHA-256 (joinable, not reversible; optional normalization so one
// person hashes the same from every client); tokenize is AES-SIV (RFC 5297)
// with the key id in the token ("tok:k1:..."), reversible with Detokenize;
// generalize coarsens dates, numbers and IP addresses and redacts what it
// cannot coarsen. Every path fails closed: an error or an unexpected shape
// never forwards the original value.
//
// # Detectors
//
// Detect finds emails, phone numbers, payment cards (Luhn and issuer
// prefixes), IBANs (mod 97), US SSNs (issued ranges), IPv4 and IPv6
// addresses (net/netip) and advertising ids (hyphenated UUIDs) in text, in
// one left-to-right pass without regular expressions. The doc comments of
// Detect and of each match function state the rules and the heuristics that
// keep timestamps, dates, amounts and versions from being flagged.
//
// # Buffers and allocation
//
// Apply and Detect append to the caller's dst and keep no reference to raw
// or dst after they return; raw may be a view into a request body. Per-call
// working memory (the HMAC state, decode and seal buffers) comes from a
// sync.Pool owned by the Transformer, so keep, drop, redact, hash, mask,
// generalize and scan without findings do not allocate, and a Transformer
// is safe for concurrent use. Keys are copied by NewTransformer; Keys.String
// never prints them.
package masking
