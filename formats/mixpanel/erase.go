package mixpanel

import "github.com/consentry/consentry/formats"

// IDCarriers are the records in which Mixpanel traffic carries a person's
// distinct_id: an event's properties.distinct_id (/track, /import) and a
// profile update's $distinct_id (/engage). Mixpanel's GDPR API deletes by
// distinct_id.
func IDCarriers() []formats.IDCarrier {
	return []formats.IDCarrier{
		{Format: Format, Kind: KindEvent, Name: "$identify", Prefix: `{"event":"$identify","properties":{"distinct_id":`, Suffix: `}}`, Path: "properties.distinct_id", Classifier: Classifier{}},
		{Format: Format, Kind: KindProfile, Prefix: `{"$distinct_id":`, Suffix: `}`, Path: "$distinct_id", Classifier: Classifier{}},
	}
}
