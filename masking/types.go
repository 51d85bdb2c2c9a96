package masking

import (
	"fmt"
	"github.com/consentry/consentry/detect"
)

// Action is what happens to one field. The zero value is ActionDrop so that a
// missing or broken decision fails closed.
type Action uint8

const (
	ActionDrop       Action = iota // remove the key (or the array element)
	ActionKeep                     // forward unchanged
	ActionRedact                   // fixed, type-aware replacement
	ActionHash                     // keyed HMAC-SHA-256 pseudonym
	ActionTokenize                 // deterministic AES-SIV token, reversible with the tenant key
	ActionMask                     // keep first/last N characters
	ActionGeneralize               // date → year/month, number → bucket, GPS → N decimals, IP → prefix
	ActionScan                     // run the content detectors and act on each finding
	numActions
)

// NumActions is the number of defined actions, for fixed-size counters.
const NumActions = int(numActions)

var actionNames = [...]string{
	ActionDrop:       "drop",
	ActionKeep:       "keep",
	ActionRedact:     "redact",
	ActionHash:       "hash",
	ActionTokenize:   "tokenize",
	ActionMask:       "mask",
	ActionGeneralize: "generalize",
	ActionScan:       "scan",
}

func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return fmt.Sprintf("action(%d)", a)
}

// ParseAction maps a policy's action name to an Action. Unknown names are an
// error; callers must treat that error as drop.
func ParseAction(s string) (Action, error) {
	for i, n := range actionNames {
		if n == s {
			return Action(i), nil
		}
	}
	return ActionDrop, fmt.Errorf("unknown action %q (want one of keep, drop, redact, hash, tokenize, mask, generalize, scan)", s)
}

// ValueType is the JSON type of a field's value. Policies see it; they never
// see the value.
type ValueType uint8

const (
	TypeNull ValueType = iota
	TypeBool
	TypeNumber
	TypeString
	TypeObject
	TypeArray
)

var typeNames = [...]string{"null", "boolean", "number", "string", "object", "array"}

func (t ValueType) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "invalid"
}

// Decision is a compiled policy decision for one field shape.
type Decision struct {
	Action Action
	Params *Params // nil means the action's defaults
	Rule   string  // the policy rule id that decided, for audit
}

// Params holds the validated parameters of an action. Each action reads only
// its own fields; ParseParams fills them from the policy's "params" object.
type Params struct {
	// redact: replacement for strings (default "[REDACTED]"). Numbers become
	// 0, booleans false, null stays null.
	Replacement string

	// mask: characters kept at each end, and the mask character (default '*').
	KeepFirst, KeepLast int
	MaskChar            byte

	// hash: keep only HexLen hex characters of the HMAC (0 = all 64).
	// Normalize is "" | "email" | "phone" | "lower" and is applied before
	// hashing so that the same person hashes the same in every client.
	// IfPrefix, when set, hashes only values starting with one of its keys and
	// writes the mapped prefix before the hex; other values are kept. This is
	// how device ids derived from advertising ids keep the shape of random ids.
	HexLen    int
	Normalize string
	IfPrefix  map[string]string

	// generalize: To is "year" | "month" (dates), "decimals" (numbers such as
	// GPS), "bucket" (numbers), "prefix" (IP addresses), "user_agent"
	// (User-Agent strings: browser family and major version, OS family).
	To         string
	Decimals   int
	BucketSize float64
	IPv4Bits   int
	IPv6Bits   int

	// scan: the action applied to each finding, by detector class
	// (e.g. "contact.email": ActionHash). Classes not listed are redacted.
	Findings map[string]Action
	// scan: detector options compiled from the params "regions" (phone
	// regions, first the tenant's default), "languages" (the locale list
	// whose context words apply besides English), "hotwords" (extra
	// context words by detector class) and "text" (false turns the name,
	// address and birth-date detectors off); nil means detect.Default.
	Detect *detect.Options
	// scan: the value is a URL. The format adapters' applier (package
	// formats) splits it into path, query parameters and fragment and
	// decides each part as a field of a record of kind "url"; the
	// Transformer alone scans it whole, like any string.
	URL bool
}
