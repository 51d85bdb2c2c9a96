package consentry_test

import data.consentry

_findings := {
	"contact.email": "redact",
	"contact.phone": "redact",
	"net.ip": "redact",
	"net.mac": "redact",
	"device.ad_id": "redact",
	"person.name": "redact",
	"person.address": "redact",
	"person.birthdate": "redact",
}

_input(class, type) := {
	"tenant": "acme-eu",
	"format": "clevertap.sdk",
	"record": {"kind": "event", "name": "Charged"},
	"field": {"path": "evtData.Field", "key": "Field", "class": class, "type": type},
}

_drop(rule) := {"action": "drop", "rule": rule}

_keep(rule) := {"action": "keep", "rule": rule}

# Every class of the vocabulary with the decision the default policy must give it.
_class_cases := {
	"id.user": {"class": "id.user", "type": "string", "want": {"action": "hash", "rule": "gdpr.id.user"}},
	"id.device": {"class": "id.device", "type": "string", "want": {
		"action": "hash",
		"params": {"if_prefix": {"__g": "__", "-g": "-", "__h": "__h", "-h": "-h", "_w_": "_w_", "-v": "-v"}, "hex_len": 32},
		"rule": "gdpr.id.device",
	}},
	"contact.email": {"class": "contact.email", "type": "string", "want": {
		"action": "tokenize",
		"rule": "gdpr.contact.email",
	}},
	"contact.phone": {"class": "contact.phone", "type": "number", "want": {
		"action": "tokenize",
		"rule": "gdpr.contact.phone",
	}},
	"person.name": {"class": "person.name", "type": "string", "want": _drop("gdpr.person.name")},
	"person.photo": {"class": "person.photo", "type": "string", "want": _drop("gdpr.person.photo")},
	"person.birthdate": {"class": "person.birthdate", "type": "string", "want": {
		"action": "generalize",
		"params": {"to": "year"},
		"rule": "gdpr.person.birthdate",
	}},
	"person.gender": {"class": "person.gender", "type": "string", "want": _keep("gdpr.person.gender")},
	"person.age": {"class": "person.age", "type": "number", "want": _keep("gdpr.person.age")},
	"person.attribute": {"class": "person.attribute", "type": "boolean", "want": _keep("gdpr.person.attribute")},
	"device.ad_id": {"class": "device.ad_id", "type": "string", "want": _drop("gdpr.device.ad_id")},
	"device.vendor_id": {"class": "device.vendor_id", "type": "string", "want": _drop("gdpr.device.vendor_id")},
	"device.ad_tracking": {"class": "device.ad_tracking", "type": "boolean", "want": _drop("gdpr.device.ad_tracking")},
	"device.info": {"class": "device.info", "type": "number", "want": _keep("gdpr.device.info")},
	"network.wifi": {"class": "network.wifi", "type": "boolean", "want": _drop("gdpr.network.wifi")},
	"network.bluetooth": {"class": "network.bluetooth", "type": "string", "want": _drop("gdpr.network.bluetooth")},
	"network.radio": {"class": "network.radio", "type": "string", "want": _drop("gdpr.network.radio")},
	"network.type": {"class": "network.type", "type": "string", "want": _drop("gdpr.network.type")},
	"network.carrier": {"class": "network.carrier", "type": "string", "want": _drop("gdpr.network.carrier")},
	"network.country": {"class": "network.country", "type": "string", "want": _drop("gdpr.network.country")},
	"web.page_url": {"class": "web.page_url", "type": "string", "want": _keep("gdpr.web.url")},
	"web.referrer": {"class": "web.referrer", "type": "string", "want": _keep("gdpr.web.url")},
	"web.origin": {"class": "web.origin", "type": "string", "want": _keep("gdpr.web.url")},
	"web.url": {"class": "web.url", "type": "string", "want": {
		"action": "scan",
		"params": {"url": true, "findings": _findings},
		"rule": "gdpr.web.url.parts",
	}},
	"device.user_agent": {"class": "device.user_agent", "type": "string", "want": {
		"action": "generalize",
		"params": {"to": "user_agent"},
		"rule": "gdpr.device.user_agent",
	}},
	"auth.secret": {"class": "auth.secret", "type": "string", "want": _drop("gdpr.auth.secret")},
	"ad.click_id": {"class": "ad.click_id", "type": "string", "want": _drop("gdpr.ad.click_id")},
	"person.address": {"class": "person.address", "type": "string", "want": _drop("gdpr.person.address")},
	"contact.address": {"class": "contact.address", "type": "string", "want": _drop("gdpr.person.address")},
	"network family": {"class": "network.cell_id", "type": "number", "want": _drop("gdpr.network")},
	"net.ip": {"class": "net.ip", "type": "string", "want": {
		"action": "generalize",
		"params": {"to": "prefix", "ipv4_bits": 24, "ipv6_bits": 48},
		"rule": "gdpr.net.ip",
	}},
	"net.use_ip": {"class": "net.use_ip", "type": "boolean", "want": {"action": "redact", "rule": "gdpr.net.use_ip"}},
	"geo.lat": {"class": "geo.lat", "type": "number", "want": {
		"action": "generalize",
		"params": {"to": "decimals", "decimals": 2},
		"rule": "gdpr.geo.lat",
	}},
	"geo.lng": {"class": "geo.lng", "type": "number", "want": {
		"action": "generalize",
		"params": {"to": "decimals", "decimals": 2},
		"rule": "gdpr.geo.lng",
	}},
	"geo.location": {"class": "geo.location", "type": "string", "want": _keep("gdpr.geo.location")},
	"record.meta": {"class": "record.meta", "type": "number", "want": _keep("gdpr.record.meta")},
	"auth.account": {"class": "auth.account", "type": "string", "want": _keep("gdpr.auth.account")},
	"consent.optout": {"class": "consent.optout", "type": "boolean", "want": _keep("gdpr.consent.optout")},
	"consent.marketing": {"class": "consent.marketing", "type": "boolean", "want": _keep("gdpr.consent.marketing")},
	"consent family": {"class": "consent.analytics", "type": "boolean", "want": _keep("gdpr.consent")},
	"app.info": {"class": "app.info", "type": "string", "want": _keep("gdpr.app.info")},
	"free_text": {"class": "free_text", "type": "string", "want": {
		"action": "scan",
		"params": {"findings": _findings},
		"rule": "gdpr.free_text",
	}},
	"unknown string": {"class": "", "type": "string", "want": {
		"action": "scan",
		"params": {"findings": _findings},
		"rule": "gdpr.unclassified.scan",
	}},
	"unknown number": {"class": "", "type": "number", "want": {
		"action": "scan",
		"params": {"findings": _findings},
		"rule": "gdpr.unclassified.scan",
	}},
	"unknown boolean": {"class": "", "type": "boolean", "want": _keep("gdpr.unclassified.keep")},
	"unknown null": {"class": "", "type": "null", "want": _keep("gdpr.unclassified.keep")},
	"unlisted class string": {"class": "pet.name", "type": "string", "want": {
		"action": "scan",
		"params": {"findings": _findings},
		"rule": "gdpr.unclassified.scan",
	}},
	"unlisted class null": {"class": "pet.name", "type": "null", "want": _keep("gdpr.unclassified.keep")},
}

test_default_decision[note] if {
	some note, tc in _class_cases
	got := consentry.decision with input as _input(tc.class, tc.type)
	got == tc.want
}

test_unknown_type_is_undefined if {
	not consentry.decision with input as _input("", "object")
}

_tenants := {"acme-eu": {
	"classes": {
		"contact.email": {"action": "hash", "params": {"normalize": "email"}, "rule": "acme.email"},
		"person.name": {"action": "mask", "params": {"keep_first": 1}},
	},
	"fields": {
		"evtData.Field": {"action": "keep", "rule": "acme.field"},
		"profile.Email": {"action": "redact"},
	},
	"drop_events": ["Debug", "Charged Test"],
}}

_override_cases := {
	"field override wins over class override": {
		"tenant": "acme-eu", "path": "evtData.Field", "class": "contact.email",
		"want": {"action": "keep", "rule": "acme.field"},
	},
	"field override without rule gets tenant.field": {
		"tenant": "acme-eu", "path": "profile.Email", "class": "contact.email",
		"want": {"action": "redact", "rule": "tenant.field"},
	},
	"class override with rule": {
		"tenant": "acme-eu", "path": "evtData.Email", "class": "contact.email",
		"want": {"action": "hash", "params": {"normalize": "email"}, "rule": "acme.email"},
	},
	"class override without rule gets tenant.class": {
		"tenant": "acme-eu", "path": "profile.Name", "class": "person.name",
		"want": {"action": "mask", "params": {"keep_first": 1}, "rule": "tenant.class"},
	},
	"class without override falls back to the default": {
		"tenant": "acme-eu", "path": "profile.Phone", "class": "contact.phone",
		"want": {"action": "tokenize", "rule": "gdpr.contact.phone"},
	},
	"other tenant gets the default": {
		"tenant": "globex", "path": "evtData.Field", "class": "contact.email",
		"want": {"action": "tokenize", "rule": "gdpr.contact.email"},
	},
}

test_tenant_override[note] if {
	some note, tc in _override_cases
	inp := object.union(_input(tc.class, "string"), {
		"tenant": tc.tenant,
		"field": {"path": tc.path, "key": "Field", "class": tc.class, "type": "string"},
	})
	got := consentry.decision with input as inp with data.tenants as _tenants
	got == tc.want
}

_record(tenant, kind, name) := {
	"tenant": tenant,
	"format": "clevertap.sdk",
	"record": {"kind": kind, "name": name},
}

_record_cases := {
	"event is kept": {"tenant": "acme-eu", "kind": "event", "name": "Charged", "want": _keep("gdpr.record.keep")},
	"listed event is dropped": {"tenant": "acme-eu", "kind": "event", "name": "Debug", "want": _drop("tenant.drop_events")},
	"listed name with a space": {
		"tenant": "acme-eu", "kind": "event", "name": "Charged Test",
		"want": _drop("tenant.drop_events"),
	},
	"profile is kept": {"tenant": "acme-eu", "kind": "profile", "name": "Debug", "want": _keep("gdpr.record.keep")},
	"listed segment track is dropped": {"tenant": "acme-eu", "kind": "track", "name": "Debug", "want": _drop("tenant.drop_events")},
	"other tenant keeps the event": {"tenant": "globex", "kind": "event", "name": "Debug", "want": _keep("gdpr.record.keep")},
	"meta is kept": {"tenant": "", "kind": "meta", "name": "", "want": _keep("gdpr.record.keep")},
}

test_record_decision[note] if {
	some note, tc in _record_cases
	got := consentry.record_decision with input as _record(tc.tenant, tc.kind, tc.name) with data.tenants as _tenants
	got == tc.want
}

test_record_decision_without_tenant_data if {
	consentry.record_decision == _keep("gdpr.record.keep") with input as _record("acme-eu", "event", "Debug")
}

test_device_ids_of_other_vendors_are_pseudonymised if {
	d := consentry.decision with input as object.union(_input("id.device", "string"), {"format": "segment"})
	d == {"action": "hash", "rule": "gdpr.id.device.pseudonym"}
}

test_structural_text_is_scanned if {
	d := consentry.decision with input as _input("record.meta", "string")
	d.action == "scan"
	d.rule == "gdpr.record.meta.text"
}

test_structural_numbers_are_kept if {
	d := consentry.decision with input as _input("record.meta", "number")
	d == {"action": "keep", "rule": "gdpr.record.meta"}
}

test_device_info_text_is_scanned if {
	d := consentry.decision with input as _input("device.info", "string")
	d.action == "scan"
	d.rule == "gdpr.device.info.text"
}

test_business_ids_are_kept if {
	got := consentry.decision with input as _input("business.id", "string")
	got.action == "keep"
	got.rule == "gdpr.business.id"
}

test_layered_field_rule_wins_over_the_class_default if {
	got := consentry.decision with input as _input("contact.email", "string")
		with data.consentry.by_field as {"action": "keep", "rule": "acme.field"}
	got == {"action": "keep", "rule": "acme.field"}
}

test_layered_class_override_wins_over_the_class_default if {
	got := consentry.decision with input as _input("contact.email", "string")
		with data.consentry.class_override as {"action": "drop", "rule": "acme.class"}
	got == {"action": "drop", "rule": "acme.class"}
}

test_layered_field_rule_wins_over_the_class_override if {
	got := consentry.decision with input as _input("contact.email", "string")
		with data.consentry.by_field as {"action": "keep", "rule": "acme.field"}
		with data.consentry.class_override as {"action": "drop", "rule": "acme.class"}
	got.rule == "acme.field"
}

test_tenant_data_wins_over_layered_rules if {
	got := consentry.decision with input as _input("contact.email", "string")
		with data.tenants as _tenants
		with data.consentry.by_field as {"action": "drop", "rule": "acme.layer"}
	got == {"action": "keep", "rule": "acme.field"}
}

test_layered_record_override if {
	got := consentry.record_decision with input as _record("globex", "event", "Debug")
		with data.consentry.record_override as _drop("acme.record")
	got == _drop("acme.record")
}

test_tenant_drop_events_win_over_record_override if {
	got := consentry.record_decision with input as _record("acme-eu", "event", "Debug")
		with data.tenants as _tenants
		with data.consentry.record_override as _keep("acme.record")
	got == _drop("tenant.drop_events")
}
