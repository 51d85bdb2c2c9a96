package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/consentry/consentry/config"
	"github.com/consentry/consentry/erasure"
	"github.com/consentry/consentry/formats/clevertap"
	"github.com/consentry/consentry/proxy"
)

// mountRightsAPI adds the data-subject admin API to the admin mux: tokens
// from admin_tokens, and vendor-side erasure for tenants with
// rights.vendors (or rights.clevertap_passcode).
func mountRightsAPI(mux *http.ServeMux, p *proxy.Proxy, cfg *config.Config) error {
	tokens, err := adminTokens(cfg)
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	if cfg.AdminPprof && err == nil {
		if err := proxy.MountPprof(mux, tokens); err != nil {
			errs = append(errs, err)
		}
	}
	vendors, err := vendorErasers(cfg)
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	creds, err := accessCredentials(cfg)
	if err != nil {
		return err
	}
	api, err := proxy.NewRightsAPI(p, tokens, proxy.WithVendorErasure(vendors), proxy.WithUpstreamAccess(proxy.UpstreamAccess{
		Vendor:  "clevertap",
		Format:  clevertap.FormatREST,
		Path:    clevertap.ProfilePath,
		Query:   clevertap.AppendSubjectQuery,
		Headers: clevertap.AccessAuthHeaders,
	}, creds))
	if err != nil {
		return err
	}
	api.Register(mux)
	return nil
}

// vendorErasers builds each tenant's vendor accounts for admin erasures:
// rights.vendors, and rights.clevertap_passcode as the CleverTap account
// (whose API host defaults to the tenant's clevertap.rest upstream).
func vendorErasers(cfg *config.Config) (map[string][]*erasure.Vendor, error) {
	var errs []error
	out := map[string][]*erasure.Vendor{}
	for _, name := range slices.Sorted(maps.Keys(cfg.Tenants)) {
		t := cfg.Tenants[name]
		accounts := maps.Clone(t.Rights.Vendors)
		if _, ok := accounts[erasure.CleverTap]; !ok && t.Rights.CleverTapPasscode.IsSet() {
			if accounts == nil {
				accounts = map[string]config.VendorAccount{}
			}
			accounts[erasure.CleverTap] = config.VendorAccount{Token: t.Rights.CleverTapPasscode, Account: t.Rights.CleverTapAccountID}
		}
		for _, v := range erasure.Names {
			a, ok := accounts[v]
			if !ok {
				continue
			}
			at := "tenants." + name + ".rights.vendors." + v
			if v == erasure.CleverTap && t.Rights.CleverTapPasscode.IsSet() {
				at = "tenants." + name + ".rights.clevertap_passcode"
			}
			tok, err := a.Token.Resolve()
			if err != nil {
				errs = append(errs, fmt.Errorf("%s.token: %w", at, err))
				continue
			}
			c := erasure.Config{
				BaseURL: a.BaseURL, Token: tok, Account: a.Account, APIKey: a.APIKey, ProjectToken: a.ProjectToken,
				ProjectID: a.ProjectID, SourceID: a.SourceID, DestinationIDs: a.DestinationIDs,
			}
			if v == erasure.CleverTap {
				if c.BaseURL == "" {
					c.BaseURL = t.UpstreamFor(clevertap.FormatREST)
				}
				if c.Account == "" && len(t.Accounts) > 0 {
					c.Account = t.Accounts[0]
				}
				if c.Account == "" {
					c.Account = name
				}
			}
			vendor, err := erasure.New(v, c, erasure.WithTimeout(cfg.Upstream.Timeout))
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", at, err))
				continue
			}
			out[name] = append(out[name], vendor)
		}
	}
	return out, errors.Join(errs...)
}

// accessCredentials are the CleverTap accounts the access document asks:
// rights.vendors.clevertap or rights.clevertap_passcode, the account
// defaulting to the tenant's first account id (or its name).
func accessCredentials(cfg *config.Config) (map[string]proxy.VendorCredentials, error) {
	var errs []error
	creds := map[string]proxy.VendorCredentials{}
	for name, t := range cfg.Tenants {
		pass, err := t.Rights.CleverTapPasscodeSecret().Resolve()
		if err != nil {
			errs = append(errs, fmt.Errorf("tenants.%s.rights.clevertap_passcode (or vendors.clevertap.token): %w", name, err))
			continue
		}
		if len(pass) == 0 {
			continue
		}
		account := t.Rights.CleverTapAccountID
		if a, ok := t.Rights.Vendors["clevertap"]; ok && a.Account != "" {
			account = a.Account
		}
		if account == "" && len(t.Accounts) > 0 {
			account = t.Accounts[0]
		}
		if account == "" {
			account = name
		}
		creds[name] = proxy.VendorCredentials{Account: account, Secret: pass}
	}
	return creds, errors.Join(errs...)
}

// adminTokens resolves admin_tokens.
func adminTokens(cfg *config.Config) ([]proxy.AdminToken, error) {
	var errs []error
	tokens := make([]proxy.AdminToken, 0, len(cfg.AdminTokens))
	for i, s := range cfg.AdminTokens {
		v, err := s.Resolve()
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("cannot read admin_tokens[%d] (%s): %w", i, s.Name, err))
		case len(v) == 0:
			errs = append(errs, fmt.Errorf("admin_tokens[%d] (%s): no secret: set value, env or file", i, s.Name))
		}
		tokens = append(tokens, proxy.AdminToken{Name: s.Name, Secret: v})
	}
	return tokens, errors.Join(errs...)
}

const subjectsUsage = `usage:
  consentry subjects suppress|unsuppress|erase|show|access --tenant T (--identity ID | --device ID) [flags]
  consentry subjects log [--since RFC3339] [--tenant T] [flags]

flags:
  --admin URL        admin listener (default $CONSENTRY_ADMIN_URL or http://` + config.DefaultAdmin + `)
  --token T          the admin token itself (visible to other local users:
                     prefer --token-file or the environment)
  --token-file F     a file holding the admin token
  With neither, the token is $CONSENTRY_ADMIN_TOKEN: the token itself, not
  a file name.
  --identity ID      the user's identity; "-" reads it from stdin
  --device ID        the device id (CleverTap GUID); "-" reads it from stdin

erase also deletes the subject at every vendor in tenants.<t>.rights.vendors
(report.vendorErasures: requested, accepted, failed, skipped); it exits 1 if a
vendor failed. Run erase again to retry: vendors that accepted are not called.

access prints one document: Consentry's report and a part per vendor (CleverTap
and tenants.<t>.rights.vendors: ok, requested, skipped or error); it exits 1 if
a part failed.
`

// cmdSubjects drives the rights admin API and prints its JSON answer.
func cmdSubjects(args []string, stdout, stderr io.Writer) int {
	return runSubjects(args, os.Stdin, stdout, stderr)
}

func runSubjects(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprint(stdout, subjectsUsage)
		return 0
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprint(stderr, subjectsUsage)
		return 2
	}
	action := args[0]
	switch action {
	case "suppress", "unsuppress", "erase", "show", "access", "log":
	default:
		fmt.Fprintf(stderr, "consentry subjects: unknown action %q\n\n%s", action, subjectsUsage)
		return 2
	}
	fl := flag.NewFlagSet("subjects "+action, flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Usage = func() { fmt.Fprint(stderr, subjectsUsage) }
	admin := fl.String("admin", envOr("CONSENTRY_ADMIN_URL", "http://"+config.DefaultAdmin), "admin listener URL")
	token := fl.String("token", "", "admin token")
	tokenFile := fl.String("token-file", "", "file holding the admin token")
	tenant := fl.String("tenant", "", "tenant")
	identity := fl.String("identity", "", "identity")
	device := fl.String("device", "", "device id")
	since := fl.String("since", "", "log entries from this RFC 3339 time on")
	if err := fl.Parse(args[1:]); err != nil {
		return flagExit(err)
	}
	usage := func(msg string) int {
		fmt.Fprintf(stderr, "consentry subjects %s: %s\n\n%s", action, msg, subjectsUsage)
		return 2
	}
	if fl.NArg() > 0 {
		return usage("unexpected argument " + fl.Arg(0))
	}
	tok, fromEnv, err := adminToken(*token, *tokenFile)
	if err != nil {
		return usage(err.Error())
	}
	base, err := url.Parse(strings.TrimRight(*admin, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return usage("--admin must be an http(s) URL such as http://127.0.0.1:9090")
	}

	var req *http.Request
	if action == "log" {
		if *identity != "" || *device != "" {
			return usage("log takes no --identity or --device")
		}
		q := url.Values{}
		if *since != "" {
			if _, err := time.Parse(time.RFC3339, *since); err != nil {
				return usage("--since must be an RFC 3339 time such as 2026-01-02T15:04:05Z")
			}
			q.Set("since", *since)
		}
		if *tenant != "" {
			q.Set("tenant", *tenant)
		}
		u := base.String() + proxy.AdminRightsLog
		if len(q) > 0 {
			u += "?" + q.Encode()
		}
		req, err = http.NewRequest(http.MethodGet, u, nil)
	} else {
		if *since != "" {
			return usage("--since is for log only")
		}
		if *tenant == "" {
			return usage("--tenant is required")
		}
		if (*identity == "") == (*device == "") {
			return usage("give exactly one of --identity or --device")
		}
		body := proxy.SubjectRequest{Tenant: *tenant}
		id := *identity
		if *device != "" {
			id = *device
		}
		if id == "-" {
			if id, err = readLine(stdin); err != nil {
				return usage(err.Error())
			}
		}
		if *identity != "" {
			body.Identity = &id
		} else {
			body.Device = &id
		}
		b, _ := json.Marshal(body)
		req, err = http.NewRequest(http.MethodPost, base.String()+proxy.AdminSubjectsPath+action, bytes.NewReader(b))
		if req != nil {
			req.Header.Set("Content-Type", "application/json")
		}
	}
	if err != nil {
		return usage(err.Error())
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	client := &http.Client{Timeout: time.Minute}
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "consentry subjects %s: cannot reach the admin API at %s (--admin / CONSENTRY_ADMIN_URL): %v\n", action, base.Redacted(), err)
		return 1
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		fmt.Fprintf(stderr, "consentry subjects %s: cannot read the answer: %v\n", action, err)
		return 1
	}
	var out bytes.Buffer
	if json.Indent(&out, bytes.TrimSpace(raw), "", "  ") != nil {
		fmt.Fprintf(stderr, "consentry subjects %s: HTTP %d with a non-JSON answer (is --admin the admin listener?)\n", action, resp.StatusCode)
		return 1
	}
	out.WriteByte('\n')
	_, _ = stdout.Write(out.Bytes())
	var parsed struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
		Complete *bool `json:"complete"`
		Parts    []struct {
			Vendor string `json:"vendor"`
			Status string `json:"status"`
			Error  *struct {
				Message string `json:"message"`
			} `json:"error"`
		} `json:"parts"`
	}
	_ = json.Unmarshal(raw, &parsed)
	switch {
	case parsed.Error != nil:
		fmt.Fprintf(stderr, "consentry subjects %s: %s (HTTP %d, %s)\n", action, parsed.Error.Message, resp.StatusCode, parsed.Error.Code)
		if resp.StatusCode == http.StatusUnauthorized && fromEnv && isFile(tok) {
			fmt.Fprintf(stderr, "consentry subjects %s: hint: $CONSENTRY_ADMIN_TOKEN is the name of a file, but CONSENTRY_ADMIN_TOKEN holds the token itself; use --token-file for a file\n", action)
		}
		return 1
	case resp.StatusCode/100 != 2:
		fmt.Fprintf(stderr, "consentry subjects %s: HTTP %d\n", action, resp.StatusCode)
		return 1
	case parsed.Complete != nil && !*parsed.Complete:
		fmt.Fprintf(stderr, "consentry subjects %s: the log export is incomplete\n", action)
		return 1
	}
	failed := false
	for _, part := range parsed.Parts {
		if part.Status == "error" {
			msg := ""
			if part.Error != nil {
				msg = part.Error.Message
			}
			fmt.Fprintf(stderr, "consentry subjects %s: the %s part failed: %s\n", action, part.Vendor, msg)
			failed = true
		}
	}
	if failed {
		return 1 // the document is printed, but it is not complete
	}
	return 0
}

// adminToken takes the token from --token, --token-file or
// CONSENTRY_ADMIN_TOKEN (the token itself, not a file), in that order;
// fromEnv says it came from the environment.
func adminToken(flagValue, file string) (tok string, fromEnv bool, err error) {
	switch {
	case flagValue != "" && file != "":
		return "", false, errors.New("give --token or --token-file, not both")
	case flagValue != "":
		return flagValue, false, nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", false, fmt.Errorf("cannot read --token-file: %w", err)
		}
		if t := strings.TrimSpace(string(b)); t != "" {
			return t, false, nil
		}
		return "", false, errors.New("--token-file is empty")
	}
	if t := strings.TrimSpace(os.Getenv("CONSENTRY_ADMIN_TOKEN")); t != "" {
		return t, true, nil
	}
	return "", false, errors.New("no admin token: set CONSENTRY_ADMIN_TOKEN to the token, or give --token-file (or --token)")
}

// isFile reports whether s names an existing regular file: a token that
// does is most likely a path given where the token itself belongs.
func isFile(s string) bool {
	fi, err := os.Stat(s)
	return err == nil && fi.Mode().IsRegular()
}

func readLine(r io.Reader) (string, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 1<<16)
	if !sc.Scan() {
		return "", errors.New("no identifier on stdin")
	}
	return strings.TrimRight(sc.Text(), "\r"), nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
