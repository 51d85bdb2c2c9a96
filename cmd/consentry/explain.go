package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"text/tabwriter"

	"github.com/consentry/consentry/config"
	"github.com/consentry/consentry/explain"
	"github.com/consentry/consentry/policy"
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
		return flagExit(err)
	}
	switch {
	case *format == "":
		fmt.Fprintf(stderr, "consentry explain: --format is required (one of %v)\n", explain.Formats(allRoutes()))
		return 2
	case fl.NArg() > 1:
		fmt.Fprintln(stderr, "consentry explain: give one payload FILE (or - for stdin)")
		return 2
	case *output != "text" && *output != "json":
		fmt.Fprintln(stderr, "consentry explain: --output must be text or json")
		return 2
	case !slices.Contains(explain.Formats(allRoutes()), *format):
		fmt.Fprintf(stderr, "consentry explain: unknown format %q (known: %v)\n", *format, explain.Formats(allRoutes()))
		return 2
	}
	var payload []byte
	var err error
	if fl.NArg() == 1 {
		if payload, err = readInput(fl.Arg(0)); err != nil {
			fmt.Fprintf(stderr, "consentry explain: %v\n", err)
			return 1
		}
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
	if fl.NArg() == 0 {
		return explainClasses(stdout, engine, *tenant, *format, *output)
	}
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
	dropped := 0
	for _, r := range res.Records {
		if r.Action != "keep" {
			dropped++
		}
	}
	fmt.Fprintf(stdout, "# cleaned payload (%d of %d data records forwarded, %d dropped by the policy; batch headers are numbered with the records but not counted)\n%s\n\n",
		res.RecordsOut, res.RecordsIn, dropped, pretty.String())
	fmt.Fprintln(stdout, "# record decisions")
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RECORD\tKIND\tNAME\tACTION\tRULE")
	for _, r := range res.Records {
		rule := r.Rule
		if rule == "" {
			rule = "(batch header: always kept)"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", r.Record, r.Kind, dash(r.Name), r.Action, rule)
	}
	_ = tw.Flush()
	fmt.Fprintln(stdout, "\n# field decisions (records dropped whole have none)")
	tw = tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RECORD\tKIND\tPATH\tCLASS\tACTION\tRULE")
	var reasons []string
	for _, d := range res.Decisions {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", d.Record, d.Kind, d.Path, dash(d.Class), d.Action, d.Rule)
		if d.Reason != "" {
			reasons = append(reasons, fmt.Sprintf("record %d %s: %s", d.Record, d.Path, d.Reason))
		}
	}
	_ = tw.Flush()
	if len(reasons) > 0 {
		fmt.Fprintf(stdout, "\n# why fields were dropped under %s (the policy could not decide)\n", policy.RuleError)
		for _, r := range reasons {
			fmt.Fprintln(stdout, r)
		}
	}
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

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// explainClasses lists, for a format, every class the policy's rules name
// with the decision the tenant gets for a string and a number of that
// class, and the decision for unclassified fields.
func explainClasses(stdout io.Writer, engine *policy.Engine, tenant, format, output string) int {
	type row struct {
		Class  string `json:"class"`
		Type   string `json:"type"`
		Action string `json:"action"`
		Rule   string `json:"rule"`
		Reason string `json:"reason,omitempty"`
	}
	var rows []row
	for _, class := range append([]string{""}, engine.Classes()...) {
		for _, typ := range []string{"string", "number", "boolean"} {
			d, err := engine.Decide(tenant, format, "event", "", "", "", class, typ)
			r := row{Class: class, Type: typ, Action: d.Action.String(), Rule: d.Rule}
			if err != nil {
				r.Reason = err.Error()
			}
			rows = append(rows, r)
		}
	}
	if output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(map[string]any{"format": format, "tenant": tenant, "classes": rows})
		return 0
	}
	fmt.Fprintf(stdout, "# format %s, tenant %s: the decision for each class the policy names, by value type\n", format, tenant)
	fmt.Fprintf(stdout, "# (a field's path can change it: by_field rules and policy_data fields; give a payload FILE to see them)\n")
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CLASS\tTYPE\tACTION\tRULE")
	for _, r := range rows {
		c := r.Class
		if c == "" {
			c = "(unclassified)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c, r.Type, r.Action, r.Rule)
	}
	_ = tw.Flush()
	for _, r := range rows {
		if r.Reason != "" {
			fmt.Fprintf(stdout, "%s %s: %s\n", r.Class, r.Type, r.Reason)
		}
	}
	return 0
}
