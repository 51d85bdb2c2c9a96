package clevertap

import (
	"github.com/consentry/consentry/formats"
)

// Response headers that would move SDKs off the proxy (clevertap-wire.md §13).
var redirectHeaders = []string{"X-WZRK-RD", "X-WZRK-SPIKY-RD"}

// Routes are CleverTap's endpoints that Consentry serves. Any other path is
// refused: Consentry is never an open proxy.
func Routes() []formats.Route {
	routes := append(append(mobileRoutes(), WebRoutes()...), RightsRoutes()...)
	return append(routes, AccessRoutes()...)
}

func mobileRoutes() []formats.Route {
	return []formats.Route{
		{
			Method:              "POST",
			Path:                "/a1",
			Format:              FormatSDK,
			Query:               []string{"os", "t", "z", "ts"},
			Accounts:            sdkAccounts,
			Unwrap:              unwrapEIT,
			Clean:               CleanSDK,
			Reply:               func(dst []byte, _ formats.Request, _ formats.Result) ([]byte, string) { return SDKReply(dst), jsonType },
			DropResponseHeaders: redirectHeaders,
		},
		{
			Method:              "GET",
			Path:                "/hello",
			Format:              FormatSDK,
			Query:               []string{"os", "t", "z"},
			Accounts:            headerAccounts,
			DropResponseHeaders: redirectHeaders,
		},
		{
			Method:   "POST",
			Path:     "/1/upload",
			Format:   FormatREST,
			Query:    []string{"dryRun"},
			Accounts: headerAccounts,
			Clean:    CleanREST,
			Reply: func(dst []byte, _ formats.Request, res formats.Result) ([]byte, string) {
				return RESTReply(dst, res.RecordsIn), jsonType
			},
			DropResponseHeaders: redirectHeaders,
		},
	}
}

const jsonType = "application/json; charset=utf-8"

// headerAccounts reads the account id from the header (both spellings the
// SDKs use; header lookup is case-insensitive) and the z query parameter.
func headerAccounts(dst [][]byte, req formats.Request, _ []byte) [][]byte {
	if v := req.Header("X-CleverTap-Account-Id"); len(v) > 0 {
		dst = append(dst, v)
	}
	if v := req.Query("z"); len(v) > 0 {
		dst = append(dst, v)
	}
	return dst
}

func sdkAccounts(dst [][]byte, req formats.Request, body []byte) [][]byte {
	dst = headerAccounts(dst, req, body)
	if id := SDKAccount(body); id != nil {
		dst = append(dst, id)
	}
	return dst
}

func unwrapEIT(body []byte) ([]byte, func([]byte) ([]byte, error), error) {
	if !IsEnvelope(body) {
		return body, nil, nil
	}
	plain, env, err := OpenEnvelope(body)
	if err != nil {
		return nil, nil, err
	}
	return plain, env.Seal, nil
}
