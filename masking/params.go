package masking

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/consentry/consentry/detect"
	"math"
	"slices"
	"strings"
	"unicode/utf8"
)

// Param names of the policy's "params" object, by action.
var paramNames = map[Action][]string{
	ActionRedact:     {"replacement"},
	ActionHash:       {"hex_len", "if_prefix", "normalize"},
	ActionMask:       {"keep_first", "keep_last", "mask_char"},
	ActionGeneralize: {"bucket_size", "decimals", "ipv4_bits", "ipv6_bits", "to"},
	// scan's own map plus the knobs of the actions it applies to findings.
	ActionScan: {"findings", "hex_len", "hotwords", "ipv4_bits", "ipv6_bits", "keep_first", "keep_last", "languages", "mask_char", "regions", "text", "url"},
}

// Limits of param values.
const (
	maxReplacementLen = 256
	maxKeep           = 64
	maxDecimals       = 10
	maxPrefixEntries  = 16
	maxPrefixLen      = 32
	minHexLen         = 8
)

// ParseParams validates the policy's params object for action a and returns
// the Params with the action's defaults in every field the object leaves
// out (mask keeps the last 4, mask_char '*', decimals 2, ipv4_bits 24,
// ipv6_bits 48). A nil or empty map gives nil Params: the defaults.
//
// Numbers may be float64 (encoding/json), json.Number (OPA results) or Go
// integers. Unknown names, wrong types and out-of-range values are errors
// that name the param; all problems are reported at once.
func ParseParams(a Action, m map[string]any) (*Params, error) {
	if len(m) == 0 {
		return nil, nil
	}
	allowed := paramNames[a]
	p := defaultParams
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var errs []error
	bad := func(k, format string, args ...any) {
		errs = append(errs, fmt.Errorf("param %q: %s", k, fmt.Sprintf(format, args...)))
	}
	hasBucket := false
	var regions, languages []string
	var hotwords map[string]detect.HotwordSet
	text, hasText := true, false
	for _, k := range keys {
		v := m[k]
		if !slices.Contains(allowed, k) {
			if len(allowed) == 0 {
				bad(k, "action %s takes no params", a)
			} else {
				bad(k, "unknown for action %s (want one of %s)", a, strings.Join(allowed, ", "))
			}
			continue
		}
		switch k {
		case "replacement":
			s, ok := v.(string)
			if !ok || len(s) > maxReplacementLen || !utf8.ValidString(s) {
				bad(k, "want a UTF-8 string of at most %d bytes", maxReplacementLen)
				continue
			}
			p.Replacement = s
		case "keep_first", "keep_last":
			n, ok := intParam(v, 0, maxKeep)
			if !ok {
				bad(k, "want an integer from 0 to %d", maxKeep)
				continue
			}
			if k == "keep_first" {
				p.KeepFirst = n
			} else {
				p.KeepLast = n
			}
		case "mask_char":
			s, ok := v.(string)
			if !ok || len(s) != 1 || !maskCharOK(s[0]) {
				bad(k, "want one printable ASCII character other than \" and \\")
				continue
			}
			p.MaskChar = s[0]
		case "hex_len":
			n, ok := intParam(v, 0, 2*32)
			if !ok || n != 0 && n < minHexLen {
				bad(k, "want 0 (all 64) or an integer from %d to 64", minHexLen)
				continue
			}
			p.HexLen = n
		case "normalize":
			s, ok := v.(string)
			if !ok || s != "" && s != "email" && s != "phone" && s != "lower" {
				bad(k, `want "email", "phone" or "lower"`)
				continue
			}
			p.Normalize = s
		case "if_prefix":
			mp, err := prefixParam(v)
			if err != nil {
				bad(k, "%v", err)
				continue
			}
			p.IfPrefix = mp
		case "to":
			s, ok := v.(string)
			switch {
			case !ok:
				bad(k, "want a string")
				continue
			case s == ToYear, s == ToMonth, s == ToDecimals, s == ToBucket, s == ToPrefix, s == ToUserAgent:
				p.To = s
			default:
				bad(k, `want "year", "month", "decimals", "bucket", "prefix" or "user_agent"`)
				continue
			}
		case "decimals":
			n, ok := intParam(v, 0, maxDecimals)
			if !ok {
				bad(k, "want an integer from 0 to %d", maxDecimals)
				continue
			}
			p.Decimals = n
		case "bucket_size":
			f, ok := floatParam(v)
			if !ok || !(f > 0) || math.IsInf(f, 0) {
				bad(k, "want a positive number")
				continue
			}
			p.BucketSize, hasBucket = f, true
		case "ipv4_bits":
			n, ok := intParam(v, 1, 32)
			if !ok {
				bad(k, "want an integer from 1 to 32")
				continue
			}
			p.IPv4Bits = n
		case "ipv6_bits":
			n, ok := intParam(v, 1, 128)
			if !ok {
				bad(k, "want an integer from 1 to 128")
				continue
			}
			p.IPv6Bits = n
		case "regions", "languages":
			l, err := stringList(v)
			if err != nil {
				bad(k, "%v", err)
				continue
			}
			if k == "regions" {
				regions = l
			} else {
				languages = l
			}
		case "text":
			b, ok := v.(bool)
			if !ok {
				bad(k, "want a boolean")
				continue
			}
			text, hasText = b, true
		case "url":
			b, ok := v.(bool)
			if !ok {
				bad(k, "want a boolean")
				continue
			}
			p.URL = b
		case "hotwords":
			h, err := hotwordsParam(v)
			if err != nil {
				bad(k, "%v", err)
				continue
			}
			hotwords = h
		case "findings":
			f, err := findingsParam(v)
			if err != nil {
				bad(k, "%v", err)
				continue
			}
			p.Findings = f
		}
	}
	switch {
	case regions == nil && languages == nil && hotwords == nil && hasText:
		p.Detect = detect.Default
		if !text {
			p.Detect = detect.NoText
		}
	case regions != nil || languages != nil || hotwords != nil:
		o, err := detect.NewOptions(regions, languages, hotwords, text)
		if err != nil {
			errs = append(errs, err)
		}
		p.Detect = o
	}
	if a == ActionGeneralize && p.To == ToBucket && !hasBucket {
		errs = append(errs, errors.New(`param "bucket_size": required when "to" is "bucket"`))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("cannot parse params of action %s: %w", a, errors.Join(errs...))
	}
	return &p, nil
}

// floatParam accepts the number types that decoded JSON and Go callers use.
func floatParam(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, !math.IsNaN(x)
	case float32:
		return float64(x), !math.IsNaN(float64(x))
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case int32:
		return float64(x), true
	case uint:
		return float64(x), true
	case uint64:
		return float64(x), true
	case uint32:
		return float64(x), true
	}
	return 0, false
}

func intParam(v any, lo, hi int) (int, bool) {
	f, ok := floatParam(v)
	if !ok || f != math.Trunc(f) || f < float64(lo) || f > float64(hi) {
		return 0, false
	}
	return int(f), true
}

func prefixParam(v any) (map[string]string, error) {
	var src map[string]string
	switch x := v.(type) {
	case map[string]string:
		src = x
	case map[string]any:
		src = make(map[string]string, len(x))
		for from, to := range x {
			s, ok := to.(string)
			if !ok {
				return nil, fmt.Errorf("prefix %q must map to a string", from)
			}
			src[from] = s
		}
	default:
		return nil, errors.New("want an object of prefix to replacement prefix")
	}
	if len(src) == 0 || len(src) > maxPrefixEntries {
		return nil, fmt.Errorf("want 1 to %d prefixes", maxPrefixEntries)
	}
	out := make(map[string]string, len(src))
	for from, to := range src {
		if from == "" || len(from) > maxPrefixLen || len(to) > maxPrefixLen || !utf8.ValidString(from) || !utf8.ValidString(to) {
			return nil, fmt.Errorf("prefixes and replacements must be UTF-8 of 1 to %d bytes (replacements may be empty)", maxPrefixLen)
		}
		out[from] = to
	}
	return out, nil
}

func findingsParam(v any) (map[string]Action, error) {
	var names map[string]string
	switch x := v.(type) {
	case map[string]string:
		names = x
	case map[string]Action:
		names = make(map[string]string, len(x))
		for c, a := range x {
			names[c] = a.String()
		}
	case map[string]any:
		names = make(map[string]string, len(x))
		for c, a := range x {
			s, ok := a.(string)
			if !ok {
				return nil, fmt.Errorf("class %q must map to an action name", c)
			}
			names[c] = s
		}
	default:
		return nil, errors.New("want an object of detector class to action name")
	}
	out := make(map[string]Action, len(names))
	classes := make([]string, 0, len(names))
	for c := range names {
		classes = append(classes, c)
	}
	slices.Sort(classes)
	for _, c := range classes {
		if !knownClass(c) {
			return nil, fmt.Errorf("unknown detector class %q (want one of %s)", c, strings.Join(DetectorClasses, ", "))
		}
		a, err := ParseAction(names[c])
		if err != nil {
			return nil, fmt.Errorf("class %q: %w", c, err)
		}
		if a == ActionScan {
			return nil, fmt.Errorf("class %q: scan cannot apply to a finding", c)
		}
		out[c] = a
	}
	return out, nil
}

// stringList reads a list of strings (regions, languages).
func stringList(v any) ([]string, error) {
	switch x := v.(type) {
	case []string:
		return x, nil
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, errors.New("want a list of strings")
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, errors.New("want a list of strings")
}

// hotwordsParam reads {"contact.phone": {"positive": [...], "negative":
// [...]}, ...}: context words a policy adds to the built-in ones.
func hotwordsParam(v any) (map[string]detect.HotwordSet, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("want an object of detector class to {positive, negative}")
	}
	out := make(map[string]detect.HotwordSet, len(m))
	for c, e := range m {
		o, ok := e.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("class %q: want {positive, negative}", c)
		}
		var set detect.HotwordSet
		for k, l := range o {
			words, err := stringList(l)
			if err != nil {
				return nil, fmt.Errorf("class %q %s: %v", c, k, err)
			}
			switch k {
			case "positive":
				set.Positive = words
			case "negative":
				set.Negative = words
			default:
				return nil, fmt.Errorf("class %q: unknown key %q (want positive, negative)", c, k)
			}
		}
		out[c] = set
	}
	return out, nil
}
