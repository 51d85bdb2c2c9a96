package masking

import "github.com/consentry/consentry/detect"

// The content detectors live in package detect; these names keep the
// rewriter and the policy vocabulary where they were.

// Detector classes (see package detect).
const (
	ClassEmail     = detect.ClassEmail
	ClassPhone     = detect.ClassPhone
	ClassCard      = detect.ClassCard
	ClassIBAN      = detect.ClassIBAN
	ClassSSN       = detect.ClassSSN
	ClassIP        = detect.ClassIP
	ClassMAC       = detect.ClassMAC
	ClassAdID      = detect.ClassAdID
	ClassName      = detect.ClassName
	ClassAddress   = detect.ClassAddress
	ClassBirthdate = detect.ClassBirthdate
)

// DetectorClasses lists every class the detectors report.
var DetectorClasses = detect.Classes

// Finding is one detector match.
type Finding = detect.Finding

// Detect appends the findings in s under the default detector options.
func Detect(dst []Finding, s []byte) []Finding { return detect.Detect(dst, s) }

func knownClass(c string) bool     { return detect.KnownClass(c) }
func mayHoldFinding(s []byte) bool { return detect.MayHold(s) }
func ipv4Len(s []byte, i int) int  { return detect.IPv4Len(s, i) }
func validIPv6(b []byte) bool      { return detect.ValidIPv6(b) }
