package rights

import (
	"errors"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"
)

// Sentinel errors; wrap them with %w and test with errors.Is.
var (
	// ErrUnavailable means the store failed or the registry is closed: the
	// caller must fail closed (drop records, answer 503 on the admin API).
	ErrUnavailable = errors.New("rights registry unavailable")
	// ErrInvalidSubject means an admin call named no subject, both subjects,
	// or no tenant.
	ErrInvalidSubject = errors.New("invalid subject")
	// ErrKeyMismatch means the store was created with another registry key:
	// every stored hash would miss, so the registry refuses to open.
	ErrKeyMismatch = errors.New("key does not match the one the store was created with")
)

// Kind says whether a subject is an identity or a device.
type Kind uint8

// Subject kinds. The byte values are part of the hashed message and of the
// stored records: never renumber them.
const (
	KindIdentity Kind = 'i'
	KindDevice   Kind = 'd'
)

func (k Kind) String() string {
	switch k {
	case KindIdentity:
		return "identity"
	case KindDevice:
		return "device"
	default:
		return "unknown"
	}
}

// Reason is why a subject is suppressed; it names the suppression's origin
// (the subject's own signal in traffic, a deletion the vendor accepted, or
// an admin). Larger values are stronger: a weaker signal never replaces a
// stronger reason. Who may lift each one:
//
//	reason          set by                                   lifted by
//	optout          ct_optout:true in traffic                ct_optout:false in traffic, admin
//	erasure         a deletion through the proxy that the    admin
//	                vendor accepted (2xx) or that carried
//	                the tenant's passcode
//	admin           admin suppression                        admin
//	admin-erasure   admin erasure                            admin
type Reason uint8

// Suppression reasons. Values are stored on disk: never renumber them.
const (
	ReasonNone         Reason = 0
	ReasonOptOut       Reason = 1 // ct_optout:true learned from traffic
	ReasonErasure      Reason = 2 // erasure from traffic (vendor-accepted or passcode-authenticated deletion)
	ReasonAdmin        Reason = 3 // admin suppression
	ReasonAdminErasure Reason = 4 // admin erasure
	maxReason                 = ReasonAdminErasure
)

func (r Reason) String() string {
	switch r {
	case ReasonNone:
		return ""
	case ReasonOptOut:
		return "optout"
	case ReasonErasure:
		return "erasure"
	case ReasonAdmin:
		return "admin"
	case ReasonAdminErasure:
		return "admin-erasure"
	default:
		return "unknown"
	}
}

// Origin is who made a suppression: the subject's own traffic (or the
// controller's server through the vendor API) or an admin.
func (r Reason) Origin() string {
	switch r {
	case ReasonOptOut, ReasonErasure:
		return "traffic"
	case ReasonAdmin, ReasonAdminErasure:
		return "admin"
	default:
		return ""
	}
}

// liftedBySubject reports whether the subject's own opt-in lifts r: only
// an opt-out the subject's traffic made.
func (r Reason) liftedBySubject() bool { return r == ReasonOptOut }

// isErasure reports whether r is an erasure of either origin.
func (r Reason) isErasure() bool { return r == ReasonErasure || r == ReasonAdminErasure }

// Status is the outcome of a lookup. The zero value is StatusUnknown, so a
// zero Verdict fails closed.
type Status uint8

// Lookup outcomes.
const (
	StatusUnknown    Status = iota // registry unhealthy or closed: drop the record
	StatusClear                    // not suppressed: keep the record
	StatusSuppressed               // suppressed: drop it unless AllowSystem and the record is a system record
)

func (s Status) String() string {
	switch s {
	case StatusClear:
		return "clear"
	case StatusSuppressed:
		return "suppressed"
	default:
		return "unknown"
	}
}

// Verdict is the answer for one record.
type Verdict struct {
	Status Status
	// Reason is the strongest reason among the suppressions that apply.
	Reason Reason
	// AllowSystem is true when every suppression that applies was an opt-out
	// with ct_allow_sys_events_and_communication honoured: system events
	// (App Launched, Notification Viewed, ...), profile pushes, pings and
	// data records may still flow.
	AllowSystem bool
}

// Drop reports whether the record must be dropped. system says whether the
// record is one the SDK treats as a system record (see Verdict.AllowSystem).
func (v Verdict) Drop(system bool) bool {
	switch v.Status {
	case StatusClear:
		return false
	case StatusSuppressed:
		return !(system && v.AllowSystem)
	default:
		return true
	}
}

// merge adds one applying suppression to v.
func (v *Verdict) merge(r Reason, allowSystem bool) {
	if r == ReasonNone {
		return
	}
	if v.Status != StatusSuppressed {
		v.Status, v.Reason, v.AllowSystem = StatusSuppressed, r, allowSystem
		return
	}
	v.Reason = max(v.Reason, r)
	v.AllowSystem = v.AllowSystem && allowSystem
}

// Channel is a marketing channel. Format adapters map their vendor's
// subscription flags onto these (CleverTap: the MSG-* profile keys).
type Channel uint8

// Marketing channels. Values index Record.Consent and are stored on disk.
const (
	ChannelPush     Channel = iota // push to this device
	ChannelPushAll                 // push to all devices of the person
	ChannelEmail                   // email
	ChannelSMS                     // SMS
	ChannelWhatsApp                // WhatsApp
	ChannelDNDPhone                // the phone number may be contacted at all (revoked = do not disturb)
	ChannelDNDEmail                // the email address may be contacted at all (revoked = do not disturb)
	NumChannels
)

var channelNames = [NumChannels]string{"push", "push-all", "email", "sms", "whatsapp", "dnd-phone", "dnd-email"}

func (c Channel) String() string {
	if c < NumChannels {
		return channelNames[c]
	}
	return "unknown"
}

// ParseChannel parses a channel name as printed by Channel.String
// ("push", "push-all", "email", "sms", "whatsapp", "dnd-phone", "dnd-email").
func ParseChannel(name string) (Channel, bool) {
	for i, n := range channelNames {
		if n == name {
			return Channel(i), true
		}
	}
	return 0, false
}

// Consent is the recorded marketing consent for one channel.
type Consent uint8

// Consent states. Values are stored on disk.
const (
	ConsentUnknown Consent = iota
	ConsentGranted
	ConsentRevoked
)

func (c Consent) String() string {
	switch c {
	case ConsentGranted:
		return "granted"
	case ConsentRevoked:
		return "revoked"
	default:
		return "unknown"
	}
}

// OptSignal is the ct_optout signal of a record.
type OptSignal uint8

// Opt-out signals.
const (
	SignalNone   OptSignal = iota // the record carries no ct_optout
	SignalOptOut                  // ct_optout:true
	SignalOptIn                   // ct_optout:false: the explicit opt-in
)

// Signals are what one record teaches the registry. The zero value teaches
// nothing (Learn then only links identity and device).
type Signals struct {
	OptOut OptSignal
	// AllowSystem is ct_allow_sys_events_and_communication, already ANDed
	// with the tenant option by the caller (default: false, suppress all).
	AllowSystem bool
	// Marketing holds one consent per channel; ConsentUnknown = not in the record.
	Marketing [NumChannels]Consent
	// At is when the signal happened; zero means now.
	At time.Time
}

func (s *Signals) hasMarketing() bool {
	for _, c := range s.Marketing {
		if c != ConsentUnknown {
			return true
		}
	}
	return false
}

// ChannelConsent is one channel's consent and when it was recorded.
type ChannelConsent struct {
	State Consent
	At    time.Time
}

// Record is the stored state of one subject. Stores treat it as a value;
// only the registry interprets it.
type Record struct {
	Key  Key
	Kind Kind
	// Suppression.
	Reason      Reason
	AllowSystem bool
	Since       time.Time // when the current suppression started
	ErasedAt    time.Time // last erasure, kept after it is lifted, for the access report
	// VendorAcked is true once the vendor answered 2xx to a request that
	// carried the current opt-out: later copies of it are answered locally.
	VendorAcked bool
	// Session is the identity the device was last seen with (devices only).
	Session    Key
	HasSession bool
	SessionAt  time.Time
	Consent    [NumChannels]ChannelConsent
	Updated    time.Time
	// Vendors is the state of the deletion requested at each vendor by an
	// admin erasure of this subject, sorted by vendor; cleared when the
	// erasure is lifted.
	Vendors []VendorErasure
}

// VendorState is how far the deletion at one vendor got.
type VendorState uint8

// Vendor deletion states. Values are stored on disk: never renumber them.
const (
	VendorRequested VendorState = 1 // the call is being made (claimed: Owner, Until), or the process stopped during it
	VendorAccepted  VendorState = 2 // the vendor accepted the deletion (Job: its id)
	VendorFailed    VendorState = 3 // the vendor refused, failed or did not answer: retry
	VendorSkipped   VendorState = 4 // nothing to delete there (Reason says why)
	maxVendorState              = VendorSkipped
)

func (s VendorState) String() string {
	switch s {
	case VendorRequested:
		return "requested"
	case VendorAccepted:
		return "accepted"
	case VendorFailed:
		return "failed"
	case VendorSkipped:
		return "skipped"
	default:
		return "unknown"
	}
}

// VendorErasure is the deletion of one subject at one vendor. It holds no
// identifier: the vendor's job id, its HTTP status and a short reason.
type VendorErasure struct {
	Vendor     string
	State      VendorState
	HTTPStatus int // 0: no answer (or none needed)
	Job        string
	Reason     string
	At         time.Time
	// Owner and Until are a claim on the call (State VendorRequested): the
	// instance making it and until when. Another instance does not call
	// the vendor while the claim is live; an expired claim (the instance
	// stopped or hung) is retried. Both are empty once the answer is in.
	Owner string
	Until time.Time
	// UnknownID: the vendor accepted the call but did not know the id
	// (State VendorAccepted): nothing was deleted there.
	UnknownID bool
}

// LogEntry is one rights request or state change. It never holds raw
// identifiers: Subject is the kind and a prefix of the keyed hash.
type LogEntry struct {
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"time"`
	Tenant  string    `json:"tenant"`
	Action  string    `json:"action"`
	Actor   string    `json:"actor"`
	Subject string    `json:"subject"`
	Reason  string    `json:"reason,omitempty"`
	Channel string    `json:"channel,omitempty"`
	Detail  string    `json:"detail,omitempty"`
	// Vendor deletions (action vendor-erase): the vendor, the state
	// (VendorState), the vendor's job id and HTTP status; Detail is the
	// short reason.
	Vendor       string `json:"vendor,omitempty"`
	VendorStatus string `json:"vendorStatus,omitempty"`
	Job          string `json:"job,omitempty"`
	HTTPStatus   int    `json:"httpStatus,omitempty"`
}

// Log actions.
const (
	ActionOptOut      = "optout"       // learned ct_optout:true
	ActionOptIn       = "optin"        // learned ct_optout:false
	ActionConsent     = "consent"      // learned marketing consent change
	ActionSuppress    = "suppress"     // admin
	ActionUnsuppress  = "unsuppress"   // admin
	ActionErase       = "erase"        // admin, or a deletion through the proxy the vendor accepted
	ActionAccess      = "access"       // access report served
	ActionVendorAck   = "vendor-ack"   // the vendor accepted a request carrying the opt-out
	ActionRecover     = "recover"      // the store works again after a failure
	ActionVendorErase = "vendor-erase" // a vendor deletion requested, accepted, failed or skipped
)

// Actors that are not admin tokens.
const (
	ActorTraffic = "traffic" // changes learned from proxied traffic
	ActorSystem  = "system"  // the registry itself (recovery)
)

// Report is the access report for one subject: what Consentry holds on it.
type Report struct {
	Tenant  string `json:"tenant"`
	Subject string `json:"subject"`
	Kind    string `json:"kind"`
	// Known is false when nothing at all is held on the subject.
	Known bool `json:"known"`
	// Suppressed is the effective state for records that name only this
	// subject (for a device: also through its current identity).
	Suppressed        bool       `json:"suppressed"`
	Reason            string     `json:"reason,omitempty"`
	Origin            string     `json:"origin,omitempty"` // "traffic" or "admin"
	VendorAcked       bool       `json:"optOutAcknowledgedByVendor,omitempty"`
	Since             *time.Time `json:"since,omitempty"`
	AllowSystemEvents bool       `json:"allowSystemEvents"`
	ErasedAt          *time.Time `json:"erasedAt,omitempty"`
	// ViaIdentity: the device is suppressed because the identity last seen
	// on it is.
	ViaIdentity      bool                     `json:"suppressedViaIdentity,omitempty"`
	LinkedDevices    *int                     `json:"linkedDevices,omitempty"`
	LinkedIdentities *int                     `json:"linkedIdentities,omitempty"`
	Consent          map[string]ConsentReport `json:"marketingConsent"`
	UpdatedAt        *time.Time               `json:"updatedAt,omitempty"`
	// VendorErasures is the deletion at each vendor, after an admin erasure.
	VendorErasures []VendorReport `json:"vendorErasures,omitempty"`
}

// VendorReport is one vendor's deletion in a Report.
type VendorReport struct {
	Vendor     string    `json:"vendor"`
	Status     string    `json:"status"` // requested | accepted | failed | skipped (in_progress in an erase answer)
	Job        string    `json:"job,omitempty"`
	HTTPStatus int       `json:"httpStatus,omitempty"`
	Reason     string    `json:"reason,omitempty"`
	At         time.Time `json:"at"`
	// Instance and ClaimedUntil: the instance calling the vendor (status
	// requested) and until when the call is its own.
	Instance     string     `json:"instance,omitempty"`
	ClaimedUntil *time.Time `json:"claimedUntil,omitempty"`
	// UnknownID: accepted, but the vendor did not know the id.
	UnknownID bool `json:"unknownId,omitempty"`
}

// ConsentReport is one channel in a Report.
type ConsentReport struct {
	State string     `json:"state"`
	At    *time.Time `json:"at,omitempty"`
}

// MaxIdentifierLen is the longest identifier ValidateIdentifier accepts.
// CleverTap itself rejects identities over 120 characters.
const MaxIdentifierLen = 1024

// ValidateIdentifier checks an identity or device id given to the admin
// API: non-empty, at most MaxIdentifierLen bytes, UTF-8, no control
// characters. The error wraps ErrInvalidSubject and never quotes the value.
func ValidateIdentifier(id []byte) error {
	switch {
	case len(id) == 0:
		return fmt.Errorf("cannot use identifier: %w: it is empty", ErrInvalidSubject)
	case len(id) > MaxIdentifierLen:
		return fmt.Errorf("cannot use identifier: %w: %d bytes, at most %d", ErrInvalidSubject, len(id), MaxIdentifierLen)
	case !utf8.Valid(id):
		return fmt.Errorf("cannot use identifier: %w: not UTF-8", ErrInvalidSubject)
	}
	for _, r := range string(id) {
		if unicode.IsControl(r) {
			return fmt.Errorf("cannot use identifier: %w: contains a control character", ErrInvalidSubject)
		}
	}
	return nil
}
