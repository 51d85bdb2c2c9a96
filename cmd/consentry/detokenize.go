package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/consentry/consentry/config"
	"github.com/consentry/consentry/masking"
)

// cmdDetokenize reverses tokens produced by the tokenize action, with the
// tenant's token key. It is the only way back from a token to a value, so
// it runs offline, never on the proxy's listeners.
func cmdDetokenize(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("detokenize", flag.ContinueOnError)
	fl.SetOutput(stderr)
	tenant := fl.String("tenant", config.DefaultTenantName, "tenant whose token key applies")
	cfgFile := fl.String("config", "", "config file (for the tenant's configured keys and data_dir)")
	dataDir := fl.String("data", "", "data directory holding generated keys")
	if err := fl.Parse(reorder(args)); err != nil {
		return flagExit(err)
	}
	if *cfgFile == "" && *dataDir == "" {
		fmt.Fprintln(stderr, "usage: consentry detokenize --tenant T (--config FILE | --data DIR) [TOKEN ...]  (tokens from stdin when none given)")
		return 2
	}
	var k config.Keys
	var cfgTenants map[string]config.Tenant
	dir := *dataDir
	if *cfgFile != "" {
		cfg, err := config.Load(*cfgFile)
		if err != nil {
			fmt.Fprintf(stderr, "consentry detokenize: %v\n", err)
			return 1
		}
		cfgTenants = cfg.Tenants
		if t, ok := cfg.Tenants[*tenant]; ok {
			k = t.Keys
		}
		if dir == "" {
			dir = cfg.DataDir
		}
	}
	if *cfgFile != "" {
		if _, ok := cfgTenants[*tenant]; !ok {
			fmt.Fprintf(stderr, "consentry detokenize: tenant %q is not in %s\n", *tenant, *cfgFile)
			return 1
		}
	}
	keys, err := config.LoadKeys(dir, *tenant, k)
	if err != nil {
		fmt.Fprintf(stderr, "consentry detokenize: %v\n", err)
		return 1
	}
	ring := map[string][]byte{keys.TokenKeyID: keys.Token}
	tokens := fl.Args()
	if len(tokens) == 0 {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			tokens = append(tokens, sc.Text())
		}
	}
	status := 0
	for _, tok := range tokens {
		raw, err := masking.Detokenize(tok, ring)
		if err != nil {
			fmt.Fprintf(stderr, "consentry detokenize: %v\n", err)
			status = 1
			continue
		}
		fmt.Fprintf(stdout, "%s\n", raw)
	}
	return status
}
