package formats

import (
	"github.com/consentry/consentry/budget"
	"unsafe"

	"github.com/consentry/consentry/masking"
)

// B2S views b as a string without copying. The string is valid only while b
// is unchanged; never keep it past the request.
func B2S(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// Clean decides and rewrites one record: rights first (a suppressed
// subject's record is dropped whole), then the record-level policy, then the
// field plan. It appends the cleaned record to dst and reports whether it
// was kept. The rights registry learns the record's signals first (see
// Subjects.Admit).
func (env *Env) Clean(dst, raw []byte, format string, cls masking.Classifier, subj Subject, sig Signals, res *Result) ([]byte, bool, error) {
	end, err := env.Rewriter.Parse(raw, 0)
	if err != nil {
		return dst, false, err
	}
	if j := masking.SkipSpace(raw, end); j != len(raw) {
		return dst, false, Errorf(400, "malformed_json", "trailing data after record")
	}
	return env.CleanParsed(dst, format, cls, subj, sig, res)
}

// CleanParsed is Clean for a record already parsed by env.Rewriter.Parse
// (adapters parse first to read the record's kind and subject from it).
func (env *Env) CleanParsed(dst []byte, format string, cls masking.Classifier, subj Subject, sig Signals, res *Result) ([]byte, bool, error) {
	if err := checkParsedNumbers(env.Rewriter); err != nil {
		return dst, false, err
	}
	res.RecordsIn++
	if env.Subjects != nil {
		keep, err := env.Subjects.Admit(env.Tenant, subj, sig)
		if err != nil {
			return dst, false, &Error{Status: 503, Code: "rights_unavailable", Msg: "the data-subject registry cannot answer; retry later"}
		}
		if !keep {
			res.Suppressed++
			return dst, false, nil
		}
	}
	if env.Records != nil {
		var d masking.Decision
		if cr, ok := env.Records.(ChargedRecordPolicy); ok && env.Stats != nil {
			d = cr.RecordDecisionCharged(env.Tenant, format, subj.Kind, subj.Name, &env.Stats.Budget)
		} else {
			d = env.Records.RecordDecision(env.Tenant, format, subj.Kind, subj.Name)
		}
		if d.Rule == budget.Rule {
			// The request's policy budget ran out before this record was
			// decided: forward nothing; the SDK retries, and the decisions
			// made so far are cached for it.
			return dst, false, &Error{Status: 503, Code: "policy_budget_exceeded", Msg: "the request needs more policy work than limits allow; retry later"}
		}
		if d.Rule == masking.FailClosedRule {
			// The policy could not decide: forward nothing, and fail the
			// request so that the SDK keeps the data and retries.
			return dst, false, &Error{Status: 503, Code: "policy_error", Msg: "the policy could not decide on a record; retry later"}
		}
		if d.Action != masking.ActionKeep {
			res.PolicyDropped++
			return dst, false, nil
		}
	}
	rec := masking.Record{
		Tenant:      env.Tenant,
		Format:      format,
		Kind:        subj.Kind,
		Name:        subj.Name,
		Classifier:  cls,
		Planner:     env.Planner,
		Transformer: env.applier(format),
	}
	if env.OnRecord != nil {
		rec.OnPlan = func(p *masking.Plan) { env.OnRecord(subj.Kind, subj.Name, p) }
	}
	res.RecordsOut++
	return env.Rewriter.Emit(dst, &rec, env.Stats), true, nil
}

// CleanHeader rewrites a batch header (kind "meta") under the field plan. A
// header is never suppressed or dropped by record policy: it describes the
// request, and the proxy answers itself when no record is left.
func (env *Env) CleanHeader(dst, raw []byte, format string, cls masking.Classifier) ([]byte, error) {
	end, err := env.Rewriter.Parse(raw, 0)
	if err != nil {
		return dst, err
	}
	if j := masking.SkipSpace(raw, end); j != len(raw) {
		return dst, Errorf(400, "malformed_json", "trailing data after record")
	}
	return env.CleanParsedHeader(dst, format, cls)
}

// CleanParsedHeader is CleanHeader for a header already parsed by
// env.Rewriter.Parse.
func (env *Env) CleanParsedHeader(dst []byte, format string, cls masking.Classifier) ([]byte, error) {
	if err := checkParsedNumbers(env.Rewriter); err != nil {
		return dst, err
	}
	rec := masking.Record{
		Tenant:      env.Tenant,
		Format:      format,
		Kind:        "meta",
		Classifier:  cls,
		Planner:     env.Planner,
		Transformer: env.applier(format),
	}
	if env.OnRecord != nil {
		rec.OnPlan = func(p *masking.Plan) { env.OnRecord("meta", "", p) }
	}
	return env.Rewriter.Emit(dst, &rec, env.Stats), nil
}
