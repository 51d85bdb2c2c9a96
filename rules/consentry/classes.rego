package consentry

# The default decision of each class is its own rule, guarded by an equality on
# input.field.class, so that OPA's rule index evaluates only the matching one.

# METADATA
# description: |
#   Default GDPR decisions by field class. Identifiers become keyed pseudonyms (hash) or
#   reversible tokens (tokenize); names, photos, advertising and vendor ids and device
#   network details are dropped; dates, IP addresses and coordinates are coarsened;
#   structural, consent, account and device-model fields are kept.
# custom:
#   regulation: GDPR Art. 5(1)(c) data minimisation, Art. 4(5) pseudonymisation
by_class := {"action": "hash", "rule": "gdpr.id.user"} if input.field.class == "id.user"

# CleverTap ids derived from advertising ids (__g..., -g...) are rewritten to the shape
# of random ids, custom ids (__h..., -h..., _w_...), which apps fill with their own
# user ids, and iOS vendor-id-derived ids (-v + IDFV) to keyed pseudonyms; CleverTap's random ids are kept (the SDK and the backend
# share them).
by_class := {
	"action": "hash",
	"params": {"if_prefix": {"__g": "__", "-g": "-", "__h": "__h", "-h": "-h", "_w_": "_w_", "-v": "-v"}, "hex_len": 32},
	"rule": "gdpr.id.device",
} if {
	input.field.class == "id.device"
	startswith(input.format, "clevertap.")
}

# Other vendors' device and anonymous ids are caller-chosen and may hold an
# advertising id: they become keyed pseudonyms.
by_class := {"action": "hash", "rule": "gdpr.id.device.pseudonym"} if {
	input.field.class == "id.device"
	not startswith(input.format, "clevertap.")
}

by_class := {"action": "tokenize", "rule": "gdpr.contact.email"} if input.field.class == "contact.email"

by_class := {"action": "tokenize", "rule": "gdpr.contact.phone"} if input.field.class == "contact.phone"

by_class := {"action": "drop", "rule": "gdpr.person.name"} if input.field.class == "person.name"

by_class := {"action": "drop", "rule": "gdpr.person.photo"} if input.field.class == "person.photo"

by_class := {
	"action": "generalize",
	"params": {"to": "year"},
	"rule": "gdpr.person.birthdate",
} if input.field.class == "person.birthdate"

by_class := {"action": "keep", "rule": "gdpr.person.gender"} if input.field.class == "person.gender"

by_class := {"action": "keep", "rule": "gdpr.person.age"} if input.field.class == "person.age"

by_class := {"action": "keep", "rule": "gdpr.person.attribute"} if input.field.class == "person.attribute"

by_class := {"action": "drop", "rule": "gdpr.device.ad_id"} if input.field.class == "device.ad_id"

by_class := {"action": "drop", "rule": "gdpr.device.vendor_id"} if input.field.class == "device.vendor_id"

by_class := {"action": "drop", "rule": "gdpr.device.ad_tracking"} if input.field.class == "device.ad_tracking"

# Device model, OS, screen, locale: numbers and flags are kept; strings are
# scanned, since the same key names appear in app data ("Model", "Version")
# where apps may put anything. Text without findings passes unchanged.
by_class := {"action": "keep", "rule": "gdpr.device.info"} if {
	input.field.class == "device.info"
	input.field.type != "string"
}

by_class := {
	"action": "scan",
	"params": {"findings": object.union(scan_findings, {"device.ad_id": "keep"}), "text": false},
	"rule": "gdpr.device.info.text",
} if {
	input.field.class == "device.info"
	input.field.type == "string"
}

by_class := {"action": "drop", "rule": "gdpr.network.wifi"} if input.field.class == "network.wifi"

by_class := {"action": "drop", "rule": "gdpr.network.bluetooth"} if input.field.class == "network.bluetooth"

by_class := {"action": "drop", "rule": "gdpr.network.radio"} if input.field.class == "network.radio"

by_class := {"action": "drop", "rule": "gdpr.network.type"} if input.field.class == "network.type"

by_class := {"action": "drop", "rule": "gdpr.network.carrier"} if input.field.class == "network.carrier"

by_class := {"action": "drop", "rule": "gdpr.network.country"} if input.field.class == "network.country"

by_class := {
	"action": "generalize",
	"params": {"to": "prefix", "ipv4_bits": 24, "ipv6_bits": 48},
	"rule": "gdpr.net.ip",
} if input.field.class == "net.ip"

# CleverTap's useIP flag: redacting a boolean forces it to false.
by_class := {"action": "redact", "rule": "gdpr.net.use_ip"} if input.field.class == "net.use_ip"

by_class := {
	"action": "generalize",
	"params": {"to": "decimals", "decimals": 2},
	"rule": "gdpr.geo.lat",
} if input.field.class == "geo.lat"

by_class := {
	"action": "generalize",
	"params": {"to": "decimals", "decimals": 2},
	"rule": "gdpr.geo.lng",
} if input.field.class == "geo.lng"

# City, region and country names are coarse enough to keep.
by_class := {"action": "keep", "rule": "gdpr.geo.location"} if input.field.class == "geo.location"

# Structure, credentials, consent flags and app metadata the vendor needs.
# Structural fields: numbers, booleans and nulls (times, counters, flags) are kept;
# strings (event and screen names, record types) are scanned, since apps put
# free text there ("Reset password for bob@example.com"). Text without findings
# passes unchanged. UUIDs there are message and insert ids that vendors
# deduplicate on, so the advertising-id detector keeps them. Event and screen names are
# not prose: the name, address and birth-date detectors ("text") are off there.
by_class := {"action": "keep", "rule": "gdpr.record.meta"} if {
	input.field.class == "record.meta"
	input.field.type != "string"
}

by_class := {
	"action": "scan",
	"params": {"findings": object.union(scan_findings, {"device.ad_id": "keep"}), "text": false},
	"rule": "gdpr.record.meta.text",
} if {
	input.field.class == "record.meta"
	input.field.type == "string"
}

by_class := {"action": "keep", "rule": "gdpr.auth.account"} if input.field.class == "auth.account"

by_class := {"action": "keep", "rule": "gdpr.consent.optout"} if input.field.class == "consent.optout"

by_class := {"action": "keep", "rule": "gdpr.consent.marketing"} if input.field.class == "consent.marketing"

by_class := {"action": "keep", "rule": "gdpr.app.info"} if input.field.class == "app.info"

by_class := {
	"action": "scan",
	"params": {"findings": scan_findings},
	"rule": "gdpr.free_text",
} if input.field.class == "free_text"

# Web SDK (clevertap.web): the format adapter splits page URLs into parts and
# decides each part; the assembled URL itself is kept. Secrets, ad click ids and
# postal addresses in URL parameters are dropped.
by_class := {"action": "keep", "rule": "gdpr.web.url"} if input.field.class in {"web.page_url", "web.referrer", "web.origin"}

# Page URLs, referrers, paths and query strings of the other vendors (Segment and
# RudderStack context.page, PostHog $current_url, Amplitude page properties, Mixpanel
# $current_url, ...): the format adapter splits each into path, query parameters and
# fragment and decides every part as a field of a record of kind "url" (the rules below
# and above by the part's class: e-mail tokenized, secrets and ad click ids dropped,
# the rest scanned), then writes the URL back with what is left.
by_class := {
	"action": "scan",
	"params": {"url": true, "findings": scan_findings},
	"rule": "gdpr.web.url.parts",
} if input.field.class == "web.url"

# User agents name a browser build and device model precise enough to single a user
# out: only the browser family and major version and the OS family are forwarded
# ("Chrome 156; Android"). They are never scanned (versions look like IP addresses).
by_class := {
	"action": "generalize",
	"params": {"to": "user_agent"},
	"rule": "gdpr.device.user_agent",
} if input.field.class == "device.user_agent"

by_class := {"action": "drop", "rule": "gdpr.auth.secret"} if input.field.class == "auth.secret"

by_class := {"action": "drop", "rule": "gdpr.ad.click_id"} if input.field.class == "ad.click_id"

by_class := {"action": "drop", "rule": "gdpr.person.address"} if input.field.class in {"person.address", "contact.address"}

# Order, invoice, product (SKU, ISBN, EAN), tracking, build and request ids are
# business data that joins and reports need as they are.
by_class := {"action": "keep", "rule": "gdpr.business.id"} if input.field.class == "business.id"

# METADATA
# description: |
#   Decisions for classes of a known family that have no rule of their own, so that a
#   new network.* class is dropped and a new consent.* class is forwarded.
by_family := {"action": "drop", "rule": "gdpr.network"} if _family == "network"

by_family := {"action": "keep", "rule": "gdpr.consent"} if _family == "consent"

# METADATA
# description: |
#   Decisions for fields without a known class, by value type: strings and numbers are
#   scanned by the content detectors (numbers can hold phone or card numbers), booleans
#   and nulls carry no personal data and are kept.
by_type := {
	"action": "scan",
	"params": {"findings": scan_findings},
	"rule": "gdpr.unclassified.scan",
} if input.field.type in {"string", "number"}

by_type := {"action": "keep", "rule": "gdpr.unclassified.keep"} if input.field.type in {"boolean", "null"}

# METADATA
# description: |
#   What scan does with each finding inside a value, by detector class. Detector classes
#   not listed here (payment cards, IBANs, national ids) are redacted by the engine.
scan_findings := {
	"contact.email": "redact",
	"contact.phone": "redact",
	"net.ip": "redact",
	"net.mac": "redact",
	"device.ad_id": "redact",
	"person.name": "redact",
	"person.address": "redact",
	"person.birthdate": "redact",
}

_family := split(input.field.class, ".")[0]
