// Command bench measures Consentry side by side with the physical limit on
// the same machine, in one command:
//
//	go run ./bench                       # sdk10, 3 rounds of 5 s per phase
//	go run ./bench -corpus rest100 -rounds 5 -duration 10s
//	go run ./bench -smoke                # tiny run that only checks it works
//	go run ./bench -dump /tmp/corpus     # write the payload corpus and exit
//
// Contenders, measured in the same run in alternating rounds (A B C D E,
// A B C D E, ...), each in its own process pinned to CPU 1 while the load
// generator and the shared upstream sink share CPU 0:
//
//   - direct: a second sink instance, the bare cost of an HTTP exchange;
//   - passthrough: a fasthttp HostClient reverse proxy with Consentry's
//     listener settings and no body work (the limit);
//   - consentry: ./cmd/consentry built once and run with `serve`;
//   - naive: net/http + encoding/json + one OPA evaluation per field, with
//     the same Rego policy (package rules);
//   - nginx: proxy_pass with a keep-alive upstream, when nginx is on PATH.
//
// Two phases per round: a closed loop of -conns connections for throughput
// and CPU-µs per request (from /proc/<pid>/stat of the contender), and an
// open-model run at -rate (default: half the passthrough's measured
// capacity) for p50/p90/p99/max latency from the intended send time.
// Figures are medians over rounds. The table goes to stdout; the table and
// a JSON document (machine, Go version, commit, flags, every round) go to
// -out (default bench/results/).
//
// The harness re-executes itself for its helper processes (sink,
// passthrough, naive), selected by the BENCH_ROLE environment variable or
// `-role NAME` as the first argument. Every process it starts is stopped by
// PID at the end; all traffic stays on 127.0.0.1; every loop ends by a
// deadline.
//
// Nothing in bench/ may be imported by the product.
package main
