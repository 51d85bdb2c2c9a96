// Command consentry is the privacy-enforcing reverse proxy for analytics
// traffic. Subcommands: serve, explain, rules test, version.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
)

// version and revision may be set at build time (-ldflags "-X
// main.version=v1.2.3 -X main.revision=<commit>"); otherwise init reads them
// from the build info the go command embeds (module version, VCS revision,
// dirty flag), so that go build and go install binaries are traceable too.
var (
	version  = "dev"
	revision = ""
	modified = false
)

func init() { version, revision, modified = stampVersion(version, revision, debug.ReadBuildInfo) }

const usage = `consentry — privacy-enforcing reverse proxy for analytics traffic

Usage:
  consentry demo    [-v]   (the proxy on loopback with the embedded policy and sample payloads)
  consentry serve   [--upstream URL | --config FILE] [--listen ADDR] [--admin ADDR] [--policy DIR] [--data DIR]
  consentry explain --tenant T --format FORMAT [--policy DIR] [--config FILE] [--output text|json] [FILE]   (no FILE: the decision of every class)
  consentry rules test [--config FILE] [DIR]   (Rego unit tests, payload fixtures, coverage)
  consentry rules export DIR | init [--tenant T] DIR | fmt [--check] [DIR|FILE...]
  consentry detokenize --tenant T (--config FILE | --data DIR) TOKEN...
  consentry subjects suppress|unsuppress|erase|show|access --tenant T (--identity ID | --device ID) [--admin URL] [--token-file F]
  consentry subjects log [--since RFC3339] [--tenant T] [--admin URL] [--token-file F]
                    (the token: --token-file F, --token T, or $CONSENTRY_ADMIN_TOKEN holding the token itself)
  consentry rights migrate --config FILE [--from-data DIR]   (embedded registry → PostgreSQL)
  consentry version

Run 'consentry <command> -h' for the flags of a command.
`

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "demo":
		return cmdDemo(args[1:], stdout, stderr)
	case "serve":
		return cmdServe(args[1:], stdout, stderr)
	case "explain":
		return cmdExplain(args[1:], stdout, stderr)
	case "detokenize":
		return cmdDetokenize(args[1:], stdout, stderr)
	case "subjects":
		return cmdSubjects(args[1:], stdout, stderr)
	case "rights":
		return cmdRights(args[1:], stdout, stderr)
	case "rules":
		return cmdRules(args[1:], stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, versionLine(version, revision, modified, runtime.Version(), runtime.GOOS+"/"+runtime.GOARCH))
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "consentry: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}

// isHelp reports whether arg asks for a command's usage.
func isHelp(arg string) bool {
	return arg == "-h" || arg == "--help" || arg == "-help" || arg == "help"
}

// flagExit is the exit code of a failed flag.Parse: 0 when the user asked
// for help (-h, --help; the flag package printed the usage), else 2.
func flagExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 2
}
