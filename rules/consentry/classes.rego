package consentry

# METADATA
# description: |
#   Default GDPR decisions by field class. Identifiers become keyed pseudonyms (hash) or
#   reversible tokens (tokenize); names, photos, advertising and vendor ids and device
#   network details are dropped; dates, IP addresses and coordinates are coarsened;
#   structural, consent, account and device-model fields are kept.
# custom:
#   regulation: GDPR Art. 5(1)(c) data minimisation, Art. 4(5) pseudonymisation
class_decisions := {
	# Identifiers of the person.
	"id.user": {"action": "hash", "rule": "gdpr.id.user"},
	"id.device": {
		"action": "hash",
		"params": {"if_prefix": {"__g": "__", "-g": "-"}, "hex_len": 32},
		"rule": "gdpr.id.device",
	},
	"contact.email": {"action": "tokenize", "rule": "gdpr.contact.email"},
	"contact.phone": {"action": "tokenize", "rule": "gdpr.contact.phone"},
	# Person attributes.
	"person.name": {"action": "drop", "rule": "gdpr.person.name"},
	"person.photo": {"action": "drop", "rule": "gdpr.person.photo"},
	"person.birthdate": {"action": "generalize", "params": {"to": "year"}, "rule": "gdpr.person.birthdate"},
	"person.gender": {"action": "keep", "rule": "gdpr.person.gender"},
	"person.age": {"action": "keep", "rule": "gdpr.person.age"},
	"person.attribute": {"action": "keep", "rule": "gdpr.person.attribute"},
	# Advertising and vendor device identifiers.
	"device.ad_id": {"action": "drop", "rule": "gdpr.device.ad_id"},
	"device.vendor_id": {"action": "drop", "rule": "gdpr.device.vendor_id"},
	"device.ad_tracking": {"action": "drop", "rule": "gdpr.device.ad_tracking"},
	"device.info": {"action": "keep", "rule": "gdpr.device.info"},
	# Network details of the device.
	"network.wifi": {"action": "drop", "rule": "gdpr.network.wifi"},
	"network.bluetooth": {"action": "drop", "rule": "gdpr.network.bluetooth"},
	"network.radio": {"action": "drop", "rule": "gdpr.network.radio"},
	"network.type": {"action": "drop", "rule": "gdpr.network.type"},
	"network.carrier": {"action": "drop", "rule": "gdpr.network.carrier"},
	"network.country": {"action": "drop", "rule": "gdpr.network.country"},
	# IP address and location.
	"net.ip": {
		"action": "generalize",
		"params": {"to": "prefix", "ipv4_bits": 24, "ipv6_bits": 48},
		"rule": "gdpr.net.ip",
	},
	"net.use_ip": {"action": "redact", "rule": "gdpr.net.use_ip"},
	"geo.lat": {"action": "generalize", "params": {"to": "decimals", "decimals": 2}, "rule": "gdpr.geo.lat"},
	"geo.lng": {"action": "generalize", "params": {"to": "decimals", "decimals": 2}, "rule": "gdpr.geo.lng"},
	"geo.location": {"action": "keep", "rule": "gdpr.geo.location"},
	# Structure, consent, credentials and app metadata the vendor needs.
	"record.meta": {"action": "keep", "rule": "gdpr.record.meta"},
	"auth.account": {"action": "keep", "rule": "gdpr.auth.account"},
	"consent.optout": {"action": "keep", "rule": "gdpr.consent.optout"},
	"consent.marketing": {"action": "keep", "rule": "gdpr.consent.marketing"},
	"app.info": {"action": "keep", "rule": "gdpr.app.info"},
	# Free text: run the content detectors.
	"free_text": {"action": "scan", "params": {"findings": scan_findings}, "rule": "gdpr.free_text"},
}

# METADATA
# description: |
#   Decisions for classes of a known family that have no entry of their own, so that a
#   new network.* class is dropped and a new consent.* class is forwarded.
family_decisions := {
	"network": {"action": "drop", "rule": "gdpr.network"},
	"consent": {"action": "keep", "rule": "gdpr.consent"},
}

# METADATA
# description: |
#   Decisions for fields without a known class, by value type: strings and numbers are
#   scanned by the content detectors (numbers can hold phone or card numbers), booleans
#   and nulls carry no personal data and are kept.
type_decisions := {
	"string": {"action": "scan", "params": {"findings": scan_findings}, "rule": "gdpr.unclassified.scan"},
	"number": {"action": "scan", "params": {"findings": scan_findings}, "rule": "gdpr.unclassified.scan"},
	"boolean": {"action": "keep", "rule": "gdpr.unclassified.keep"},
	"null": {"action": "keep", "rule": "gdpr.unclassified.keep"},
}

# METADATA
# description: |
#   What scan does with each finding inside a value, by detector class. Detector classes
#   not listed here (payment cards, IBANs, national ids) are redacted by the engine.
scan_findings := {
	"contact.email": "redact",
	"contact.phone": "redact",
	"net.ip": "redact",
	"device.ad_id": "redact",
}
