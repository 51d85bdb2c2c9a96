// Package proxy is Consentry's HTTP side: the fasthttp listener, the routing
// table (from the format adapters' routes), body and header limits, gzip
// with size and ratio limits, tenant resolution, hop-by-hop hygiene,
// forwarding through pooled upstream clients, response filtering, access
// requests whose vendor replies are opened for the controller (access.go),
// and the admin listener (health, metrics, the data-subject API).
//
// Buffer lifetimes: request and response bodies belong to fasthttp and are
// valid only until the handler returns; everything kept longer (audit
// records, metrics) holds counts and constant strings, never body bytes.
package proxy
