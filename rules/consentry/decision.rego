# METADATA
# title: Consentry field and record decisions
# description: |
#   Consentry evaluates this package once per (tenant, format, record kind, event name,
#   field path, class, type) and caches the answer; the input never holds a field's value.
#   A tenant override in data.tenants[tenant] wins over the default GDPR policy:
#   fields[path] wins over classes[class], which wins over the class table. An undefined
#   decision, an error or an unknown action makes the proxy drop the field.
# scope: package
package consentry

# METADATA
# description: |
#   The decision for input.field: {"action", "params" (optional), "rule"}. Precedence:
#   the tenant's policy_data override by field path, then by class (overrides without a
#   rule id get "tenant.field" or "tenant.class"), then the author's rules layered over
#   this policy (by_field, then class_override), then the default.
# entrypoint: true
decision := _with_rule(d, "tenant.field") if {
	d := _tenant.fields[input.field.path]
} else := _with_rule(d, "tenant.class") if {
	d := _tenant.classes[input.field.class]
} else := d if {
	# Extension points for policy directories layered over these rules; they are
	# read through data because this package does not define them.
	d := data.consentry.by_field
} else := d if {
	d := data.consentry.class_override
} else := default_decision

# METADATA
# description: |
#   The default GDPR decision for input.field: by exact class first, then by class family
#   (the part before the first dot), then by value type for fields without a known class.
default_decision := d if {
	d := by_class
} else := d if {
	d := by_family
} else := by_type

# METADATA
# description: |
#   Whether a whole record is forwarded: {"action": "keep"|"drop", "rule"}. A tenant drops
#   events (event, track, page, screen records) by name with data.tenants[tenant].drop_events,
#   then the author's record_override decides; everything else is kept (opted-out and
#   erased subjects are removed before the policy runs).
# entrypoint: true
record_decision := {"action": "drop", "rule": "tenant.drop_events"} if {
	input.record.kind in {"event", "track", "page", "screen"}
	input.record.name in _tenant.drop_events
} else := d if {
	d := data.consentry.record_override
} else := {"action": "keep", "rule": "gdpr.record.keep"}

_tenant := data.tenants[input.tenant]

# The override's own rule id wins; object.union fails (and so fails closed) on a non-object.
_with_rule(d, id) := object.union({"rule": id}, d)
