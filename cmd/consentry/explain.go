package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/consentry/consentry/config"
	"github.com/consentry/consentry/explain"
)

func cmdExplain(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("explain", flag.ContinueOnError)
	fl.SetOutput(stderr)
	tenant := fl.String("tenant", config.DefaultTenantName, "tenant whose policy data and keys apply")
	format := fl.String("format", "", "payload format: "+fmt.Sprint(explain.Formats(allRoutes())))
	output := fl.String("output", "text", "text or json")
	policyDir := fl.String("policy", "", "Rego policy directory (default: the embedded rules/)")
	cfgFile := fl.String("config", "", "config file, for the tenant's policy data and keys")
	dataDir := fl.String("data", "", "data directory holding the proxy's generated keys (else throwaway keys)")
	if err := fl.Parse(reorder(args)); err != nil {
		return 2
	}
	switch {
	case *format == "":
		fmt.Fprintf(stderr, "consentry explain: --format is required (one of %v)\n", explain.Formats(allRoutes()))
		return 2
	case fl.NArg() != 1:
		fmt.Fprintln(stderr, "consentry explain: give one payload FILE (or - for stdin)")
		return 2
	case *output != "text" && *output != "json":
		fmt.Fprintln(stderr, "consentry explain: --output must be text or json")
		return 2
	}
	payload, err := readInput(fl.Arg(0))
	if err != nil {
		fmt.Fprintf(stderr, "consentry explain: %v\n", err)
		return 1
	}
	var cfg *config.Config
	if *cfgFile != "" {
		if cfg, err = config.Load(*cfgFile); err != nil {
			fmt.Fprintf(stderr, "consentry explain: %v\n", err)
			return 1
		}
	}
	engine, err := newPolicy(*policyDir, cfg, nil)
	if err != nil {
		fmt.Fprintf(stderr, "consentry explain: %v\n", err)
		return 1
	}
	defer engine.Close()
	keys, err := explainKeys(cfg, *dataDir, *tenant)
	if err != nil {
		fmt.Fprintf(stderr, "consentry explain: %v\n", err)
		return 1
	}
	applier, err := newApplier(keys)
	if err != nil {
		fmt.Fprintf(stderr, "consentry explain: %v\n", err)
		return 1
	}
	res, err := explain.Run(allRoutes(), *format, *tenant, payload, engine, applier)
	if err != nil {
		fmt.Fprintf(stderr, "consentry explain: %v\n", err)
		return 1
	}
	if *output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(res)
		return 0
	}
	var pretty bytes.Buffer
	_ = jsonIndent(&pretty, res.Payload)
	fmt.Fprintf(stdout, "# cleaned payload (%d of %d records forwarded)\n%s\n\n# field decisions\n", res.RecordsOut, res.RecordsIn, pretty.String())
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RECORD\tKIND\tPATH\tCLASS\tACTION\tRULE")
	for _, d := range res.Decisions {
		class := d.Class
		if class == "" {
			class = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", d.Record, d.Kind, d.Path, class, d.Action, d.Rule)
	}
	_ = tw.Flush()
	explain.WriteReplacements(stdout, res)
	if keys.Generated && keys.Path == "" {
		fmt.Fprintln(stdout, "\n(hashes and tokens use throwaway keys; pass --data or --config to use the proxy's keys)")
	}
	return 0
}

func explainKeys(cfg *config.Config, dataDir, tenant string) (*config.TenantKeys, error) {
	var k config.Keys
	if cfg != nil {
		t, ok := cfg.Tenants[tenant]
		if !ok {
			return nil, fmt.Errorf("tenant %q is not in the config (its policy data and keys would not apply)", tenant)
		}
		k = t.Keys
		if dataDir == "" {
			dataDir = cfg.DataDir
		}
	}
	if dataDir != "" {
		return config.LoadKeys(dataDir, tenant, k)
	}
	tk := &config.TenantKeys{HMAC: make([]byte, config.HMACKeySize), Token: make([]byte, config.TokenKeySize), TokenKeyID: "tmp", Generated: true}
	_, _ = rand.Read(tk.HMAC)
	_, _ = rand.Read(tk.Token)
	return tk, nil
}

func readInput(name string) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(os.Stdin)
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("cannot read payload: %w", err)
	}
	return b, nil
}

// reorder moves flags before positional arguments, so that
// "explain FILE --format X" works like "explain --format X FILE".
func reorder(args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if len(a) > 1 && a[0] == '-' && a != "-" {
			flags = append(flags, a)
			if !bytes.ContainsRune([]byte(a), '=') && i+1 < len(args) {
				flags = append(flags, args[i+1])
				i++
			}
			continue
		}
		pos = append(pos, a)
	}
	return append(flags, pos...)
}

// jsonIndent pretty-prints doc, or copies it as is if it is not JSON.
func jsonIndent(dst *bytes.Buffer, doc []byte) error {
	if err := json.Indent(dst, doc, "", "  "); err != nil {
		dst.Write(doc)
		return err
	}
	return nil
}
