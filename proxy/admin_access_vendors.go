package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/consentry/consentry/budget"
	"github.com/consentry/consentry/config"
	"github.com/consentry/consentry/erasure"
	"github.com/consentry/consentry/formats"
	"github.com/consentry/consentry/masking"
	"github.com/consentry/consentry/vendoraccess"
	"github.com/valyala/fasthttp"
)

// The access document's parts for the vendors of tenants.<t>.rights.vendors
// (the accounts admin erasures use, WithVendorErasure). CleverTap's part is
// vendorPart's (it is asked through the tenant's clevertap.rest upstream).
// Each vendor is asked under the pseudonyms its own traffic carries
// (erasure.Vendor.SubjectIDs); its answer is opened as the proxied access
// routes open theirs (fetchAccess: upstream.timeout, no redirects,
// limits.max_access_response_bytes, the in-flight budget).

// startVendorParts asks every vendor of t but CleverTap, concurrently, and
// returns a wait that yields their parts in configuration order and the
// bytes they hold in the in-flight budget (the caller subtracts them once
// the document is written).
func (a *RightsAPI) startVendorParts(t *Tenant, device bool, id []byte) (wait func() ([]AccessPart, int64)) {
	var vendors []*erasure.Vendor
	for _, v := range a.vendors[t.Name] {
		if v.Name() != erasure.CleverTap {
			vendors = append(vendors, v)
		}
	}
	parts := make([]AccessPart, len(vendors))
	held := make([]int64, len(vendors))
	var wg sync.WaitGroup
	for i, v := range vendors {
		wg.Go(func() { parts[i], held[i] = a.accessVendor(t, v, device, id) })
	}
	return func() ([]AccessPart, int64) {
		wg.Wait()
		var n int64
		for _, h := range held {
			n += h
		}
		return parts, n
	}
}

// accessVendor makes one vendor's part. held bytes of it count in the
// in-flight budget until the caller subtracts them.
func (a *RightsAPI) accessVendor(t *Tenant, v *erasure.Vendor, device bool, id []byte) (out AccessPart, held int64) {
	// It runs in a goroutine of its own, where no server recovers a
	// panic: one vendor's bug is that vendor's error part, not the
	// process's end. held keeps what was reserved until the panic.
	defer func() {
		if r := recover(); r != nil {
			a.p.log.Error("vendor access part panicked", "tenant", t.Name, "vendor", v.Name(), "panic_type", fmt.Sprintf("%T", r)) // the value may name the person
			out = AccessPart{Vendor: v.Name(), Time: time.Now().UTC(), Status: "error",
				Error: &adminErr{Code: "internal_error", Message: "Consentry failed while asking " + v.Name() + " (logged as a panic): report it; the other parts are complete"}}
		}
	}()
	acc := v.Account()
	va := vendoraccess.New(v.Name(), vendoraccess.Config{BaseURL: acc.BaseURL, Token: acc.Token, ProjectID: acc.ProjectID, ProjectToken: acc.ProjectToken})
	part := AccessPart{Vendor: v.Name()}
	finish := func(status, code, msg string) (AccessPart, int64) {
		part.Time, part.Status = time.Now().UTC(), status
		if code != "" {
			part.Error = &adminErr{Code: code, Message: msg}
		}
		return part, held
	}
	if a.p.policy == nil || !a.p.policy.Ready() {
		return finish("error", "policy_unavailable", "no valid policy is loaded to translate the identifier")
	}
	rw := masking.AcquireRewriter()
	rw.SetLimits(&a.p.cfg.Limits)
	env := formats.Env{Tenant: t.Name, Planner: a.p.policy, Applier: t.Applier, Records: a.p.policy, Rewriter: rw, Stats: &masking.Stats{}}
	ids, err := v.SubjectIDs(nil, &env, device, id)
	masking.ReleaseRewriter(rw)
	switch {
	case errors.Is(err, erasure.ErrDeviceUnsupported) && va.Mode() == vendoraccess.None:
		return finish("skipped", "no_access_api", va.Reason())
	case errors.Is(err, erasure.ErrDeviceUnsupported):
		return finish("skipped", "device_unsupported", v.Name()+" is asked by user id only: ask for the person's identity")
	case err != nil:
		fe := formats.AsError(err)
		return finish("error", fe.Code, "cannot translate the identifier: "+fe.Msg)
	case len(ids) == 0:
		return finish("skipped", "identifier_not_forwarded", "the tenant's policy removes this identifier from "+v.Name()+"'s traffic: "+v.Name()+" never received it")
	}
	if va.Mode() == vendoraccess.None {
		// The controller asks by its own means: heldAs tells it under
		// which values the vendor holds the person.
		part.Data = append(append([]byte(`{"heldAs":[`), bytes.Join(ids, []byte(","))...), "]}"...)
		return finish("skipped", "no_access_api", va.Reason())
	}
	// Pseudonyms named in the answers become the identifier again; tokens
	// of the tenant's key are opened only in what va.Filter kept: records
	// about the pseudonym asked for.
	raw := masking.AppendQuote(nil, id)
	names := map[string][]byte{}
	for _, pid := range ids {
		if text := vendoraccess.Text(pid); !bytes.Equal(text, id) {
			names[string(text)] = raw
		}
	}
	up, msg := vendorUpstream(v.Name(), va.BaseURL(), a.p.cfg.Upstream)
	if up == nil {
		return finish("error", "invalid_base_url", msg)
	}
	limit := a.p.cfg.Limits.MaxAccessResponseBytes
	if limit <= 0 {
		limit = budget.DefaultMaxAccessResponseBytes
	}
	var found [][]byte
	size := 0
	defer func() {
		for _, b := range found {
			clear(b) // copied into part.Data or not returned
		}
	}()
	for _, req := range va.Requests(ids) {
		// One connection per call, closed after it: access documents are
		// rare, and no idle connection outlives the document.
		hdr := append(req.Header, [2]string{"Connection", "close"})
		check := func(status int, raw []byte) ([]byte, *formats.Error) {
			kept, dropped, err := va.Filter(req, status, raw)
			if err != nil {
				return nil, formats.Errorf(fasthttp.StatusBadGateway, "vendor_invalid_reply", "%s answered about someone other than the pseudonym asked for; nothing of it is returned", v.Name())
			}
			part.Dropped += dropped
			return kept, nil
		}
		reply, ferr := a.p.fetchAccess(t, up, req.Method, req.Path, req.Query, req.Body, hdr, names, check, nil)
		held += reply.Held
		part.HTTPStatus = reply.Status
		if ferr != nil {
			if k, ok := accessBudget(ferr); ok {
				a.p.metrics.budgetCtrs[k].Inc()
			}
			return finish("error", ferr.Code, ferr.Msg)
		}
		ans := va.Read(reply.Status, reply.Body)
		switch {
		case ans.Failed:
			part.Data = reply.Body // the vendor's own JSON answer, opened
			return finish("error", "vendor_error", ans.Reason)
		case va.Mode() == vendoraccess.Export:
			part.Data, part.Job = reply.Body, ans.Job
			return finish("requested", "", "") // the export comes by the vendor's channel
		case ans.Found:
			found = append(found, reply.Body)
			size += len(reply.Body)
		default:
			clear(reply.Body) // nothing of the subject in it
		}
	}
	if size > limit {
		a.p.metrics.budgetCtrs[budget.AccessResponse].Inc()
		return finish("error", "access_response_too_large", "the vendor's answers, opened, are larger than limits.max_access_response_bytes together; nothing of them was returned")
	}
	f := len(found) > 0
	part.Found = &f
	switch len(found) {
	case 0:
	case 1:
		part.Data, found = found[0], nil
	default:
		// The person under several pseudonyms (record kinds the policy
		// treats differently): one answer per pseudonym that found them.
		data := append(make([]byte, 0, size+len(found)+1), '[')
		for i, b := range found {
			if i > 0 {
				data = append(data, ',')
			}
			data = append(data, b...)
		}
		part.Data = append(data, ']')
	}
	return finish("ok", "", "")
}

// vendorUpstream is the client of a vendor's access API at base. The
// vendor's certificate is always verified, as erasure does:
// upstream.insecure_skip_verify is for the data path's test upstreams,
// and these calls carry the account's credential. A base that cannot be
// used is a fixed message naming the key: the URL may hold user:pass@.
func vendorUpstream(vendor, base string, opts config.UpstreamOpts) (*upstream, string) {
	opts.InsecureSkipVerify = false
	up, err := newUpstream(base, opts)
	if err != nil {
		return nil, "rights.vendors." + vendor + ".base_url is not a URL Consentry can call: correct it (scheme://host[/prefix])"
	}
	return up, ""
}
