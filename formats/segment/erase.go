package segment

import "github.com/consentry/consentry/formats"

// IDCarriers are the records in which Segment's (format FormatSegment) or
// RudderStack's (FormatRudderStack) traffic carries a person's userId: an
// identify call and a track call. Segment's and RudderStack's regulation
// APIs match that userId; anonymousId is out of their reach.
func IDCarriers(format string) []formats.IDCarrier {
	return []formats.IDCarrier{
		{Format: format, Kind: "identify", Prefix: `{"type":"identify","userId":`, Suffix: `}`, Path: "userId", Classifier: Classifier{}},
		{Format: format, Kind: "track", Prefix: `{"type":"track","userId":`, Suffix: `}`, Path: "userId", Classifier: Classifier{}},
	}
}
