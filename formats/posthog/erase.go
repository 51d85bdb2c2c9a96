package posthog

import "github.com/consentry/consentry/formats"

// IDCarriers are the records in which PostHog traffic carries a person's
// distinct_id: top level (server SDKs, $identify) and in properties
// (posthog-js). PostHog deletes persons by distinct_id.
func IDCarriers() []formats.IDCarrier {
	return []formats.IDCarrier{
		{Format: Format, Kind: "identify", Prefix: `{"event":"$identify","distinct_id":`, Suffix: `}`, Path: "distinct_id", Classifier: Classifier{}},
		{Format: Format, Kind: "event", Name: "$pageview", Prefix: `{"event":"$pageview","properties":{"distinct_id":`, Suffix: `}}`, Path: "properties.distinct_id", Classifier: Classifier{}},
	}
}
