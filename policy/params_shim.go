package policy

// Temporary stand-in for masking.ParseParams until masking/transform.go lands;
// delete this file then and point parseParams at masking.ParseParams. It
// validates the same snake_case keys so that policies are checked today.

import (
	"fmt"
	"math"
	"sort"

	"github.com/consentry/consentry/masking"
)

var paramKeys = map[masking.Action][]string{
	masking.ActionRedact:     {"replacement"},
	masking.ActionMask:       {"keep_first", "keep_last", "mask_char"},
	masking.ActionHash:       {"hex_len", "normalize", "if_prefix"},
	masking.ActionGeneralize: {"to", "decimals", "bucket_size", "ipv4_bits", "ipv6_bits"},
	masking.ActionScan:       {"findings"},
}

func parseParams(a masking.Action, m map[string]any) (*masking.Params, error) {
	if len(m) == 0 {
		if a == masking.ActionGeneralize {
			return nil, fmt.Errorf("generalize needs params.to")
		}
		return nil, nil
	}
	allowed := paramKeys[a]
	var p masking.Params
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := m[k]
		ok := false
		for _, a := range allowed {
			ok = ok || a == k
		}
		if !ok {
			return nil, fmt.Errorf("unknown param %q for action %s", k, a)
		}
		var err error
		switch k {
		case "replacement":
			p.Replacement, err = shimString(k, v)
		case "normalize":
			p.Normalize, err = shimString(k, v)
			if err == nil && p.Normalize != "" && p.Normalize != "email" && p.Normalize != "phone" && p.Normalize != "lower" {
				err = fmt.Errorf("param normalize must be email, phone or lower")
			}
		case "to":
			p.To, err = shimString(k, v)
			if err == nil && p.To != "year" && p.To != "month" && p.To != "decimals" && p.To != "bucket" && p.To != "prefix" {
				err = fmt.Errorf("param to must be year, month, decimals, bucket or prefix")
			}
		case "mask_char":
			var s string
			s, err = shimString(k, v)
			if err == nil && len(s) != 1 {
				err = fmt.Errorf("param mask_char must be one ASCII character")
			}
			if err == nil {
				p.MaskChar = s[0]
			}
		case "keep_first":
			p.KeepFirst, err = shimInt(k, v, 0, 64)
		case "keep_last":
			p.KeepLast, err = shimInt(k, v, 0, 64)
		case "hex_len":
			p.HexLen, err = shimInt(k, v, 0, 64)
		case "decimals":
			p.Decimals, err = shimInt(k, v, 0, 6)
		case "ipv4_bits":
			p.IPv4Bits, err = shimInt(k, v, 0, 32)
		case "ipv6_bits":
			p.IPv6Bits, err = shimInt(k, v, 0, 128)
		case "bucket_size":
			f, isNum := v.(float64)
			if !isNum || f <= 0 || math.IsInf(f, 0) {
				err = fmt.Errorf("param bucket_size must be a positive number")
			}
			p.BucketSize = f
		case "if_prefix":
			obj, isObj := v.(map[string]any)
			if !isObj || len(obj) == 0 {
				return nil, fmt.Errorf("param if_prefix must be a non-empty object of prefix to replacement")
			}
			p.IfPrefix = make(map[string]string, len(obj))
			for from, to := range obj {
				s, isStr := to.(string)
				if !isStr || from == "" {
					return nil, fmt.Errorf("param if_prefix must map non-empty prefixes to strings")
				}
				p.IfPrefix[from] = s
			}
		case "findings":
			obj, isObj := v.(map[string]any)
			if !isObj {
				return nil, fmt.Errorf("param findings must be an object of detector class to action")
			}
			p.Findings = make(map[string]masking.Action, len(obj))
			for class, name := range obj {
				s, isStr := name.(string)
				if !isStr {
					return nil, fmt.Errorf("param findings.%s must be an action name", class)
				}
				fa, err := masking.ParseAction(s)
				if err != nil {
					return nil, fmt.Errorf("param findings.%s: %w", class, err)
				}
				p.Findings[class] = fa
			}
		}
		if err != nil {
			return nil, err
		}
	}
	if a == masking.ActionGeneralize && p.To == "" {
		return nil, fmt.Errorf("generalize needs params.to")
	}
	return &p, nil
}

func shimString(k string, v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("param %s must be a string", k)
	}
	return s, nil
}

func shimInt(k string, v any, lo, hi int) (int, error) {
	f, ok := v.(float64)
	if !ok || f != math.Trunc(f) || f < float64(lo) || f > float64(hi) {
		return 0, fmt.Errorf("param %s must be an integer from %d to %d", k, lo, hi)
	}
	return int(f), nil
}
