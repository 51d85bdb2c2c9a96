// Command bench measures Consentry side by side with the physical limit on
// the same machine, in one command:
//
//	go run ./bench                       # dense, 3 rounds of 5 s per phase, 1M-member registry
//	go run ./bench -corpus dense,typical,churn -rounds 3 -duration 3s
//	go run ./bench -corpus churn -contenders passthrough,consentry -rate 5000
//	go run ./bench -smoke                # dense, typical, churn briefly: only checks it works
//	go run ./bench -dump /tmp/corpus     # write the payload corpus and exit
//	bench/callgrind.sh                   # instructions per record of the masking engine
//
// Corpora (package corpus): dense (Android batches of 10 records full of
// personal data; alias sdk10), typical (small batches from a population of
// returning devices) and churn (every request a new install, logins,
// one-off event names, opt-outs), plus sdk1, sdk50 and rest100. Consentry
// starts on a data directory whose rights registry is pre-grown to
// -registry-size members (package internal/grow), cached between runs.
//
// Contenders, measured in the same run in alternating rounds (A B C D E,
// A B C D E, ...), each in its own process pinned to CPU 1 while the load
// generator and the shared upstream sink share CPU 0:
//
//   - direct: a second sink instance, the bare cost of an HTTP exchange;
//   - passthrough: a fasthttp HostClient reverse proxy with Consentry's
//     listener settings and no body work (the limit);
//   - consentry: ./cmd/consentry built once and run with `serve`;
//   - naive: net/http + encoding/json + one OPA query per record with a
//     decision cache keyed by the record's shape, the same Rego policy
//     (package rules) and the same transforms (package masking);
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
