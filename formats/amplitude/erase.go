package amplitude

import "github.com/consentry/consentry/formats"

// IDCarriers are the records in which Amplitude traffic carries a person's
// user_id: an $identify event and any other event. Amplitude's deletion
// API takes user_ids (or its own amplitude_ids, which never pass through
// Consentry).
func IDCarriers() []formats.IDCarrier {
	return []formats.IDCarrier{
		{Format: Format, Kind: "identify", Prefix: `{"event_type":"$identify","user_id":`, Suffix: `}`, Path: "user_id", Classifier: Classifier{}},
		{Format: Format, Kind: "event", Prefix: `{"event_type":"","user_id":`, Suffix: `}`, Path: "user_id", Classifier: Classifier{}},
	}
}
