// Package rights keeps data-subject state for the proxy: suppression
// (opt-out, erasure, admin), marketing consent per channel, and the
// identity↔device links learned from traffic. It stores keyed hashes only:
// a subject is (tenant, identity) or (tenant, device id), and its Key is the
// first 16 bytes of HMAC-SHA-256 under the registry key given to Open. Raw
// identifiers never reach the store, the request log or an error.
//
// # Lifecycle
//
//	reg, err := rights.Open(dataDir, registryKey)   // bbolt file dataDir/rights.db
//	reg, err := rights.New(store, registryKey)      // any Store (PGStore for a fleet)
//	defer reg.Close()
//	ready := reg.Healthy()                           // false → /readyz fails
//
// Open refuses a store created with another key (ErrKeyMismatch): every
// stored hash would silently miss. It migrates a store written in an older
// layout in place (link format 2 moved the reverse links into the subjects
// bucket: about 4 s per million links, once); a binary older than that
// must not open the store afterwards. BindKey binds other keys the same way (a
// fleet binds each tenant's pseudonymisation keys). A nil *Registry is
// valid and fails closed. After a store failure the registry fails closed
// and retries with backoff; when the store works again it reloads memory
// from the store and turns healthy without a restart.
//
// # Hot path (per record)
//
//	ref := reg.Ref(tenant, identity, device)   // views into the body; nothing retained
//	if err := reg.Learn(ref, signals); err != nil { /* not acknowledged: fail the request (5xx) */ }
//	if reg.CheckRef(ref).Drop(isSystemRecord) { /* drop the record */ }
//
// Ref costs one HMAC-SHA-256 per identifier (two SHA-256 blocks, ~150 ns
// of CPU with SHA-NI); compute the
// device part once per request (SDK batches share one device id) with
// Key(tenant, KindDevice, g) and Ref.WithIdentity per record. CheckRef reads
// only memory and does not allocate; Check(tenant, identity, device) is Ref
// plus CheckRef. Learn is allocation-free when the record repeats a known
// link and carries no signal; otherwise it reads the store and, on a change,
// commits durably (bbolt fsync) before returning, except a refresh of an
// existing link's last-seen time, which is written asynchronously (see
// refreshQueue). Call Learn before
// CheckRef and for dropped records too, so that a login moves the device's
// session even when the identity is suppressed. A ct_optout:false record is
// thus clear and forwarded; a ct_optout:true record is itself suppressed once
// learned: to forward it (recommended, so the vendor marks the profile and the
// web SDK stops on its ":OO" reply), take that record's verdict before Learn.
//
// # The suppression rule
//
// A record is suppressed if
//
//  1. it names an identity and that identity is suppressed, or
//  2. it carries a device that is suppressed itself (device-level opt-out
//     made while no identity was known, erasure by device id, admin), or
//  3. it carries a device, names no identity, and the device's session
//     identity (the last identity seen with it) is suppressed.
//
// A record that carries neither an identity nor a device is clear: there is
// nothing to attribute it to.
//
// Learned signals land on the identity the record names, else on the
// device's session identity, else on the device. So an identity's opt-out
// covers all of its devices while it is their current user (scenario 1);
// when another identity logs in on a shared device, that device's records
// flow for it while the first identity stays suppressed (scenario 2); an
// opt-in lifts the opt-out of the same key, nothing else changes
// (scenario 3); an erasure suppresses until an admin Unsuppress — a login,
// a profile update or the subject's own opt-in does not lift it
// (scenario 4). An opt-out made on an anonymous device moves to the first
// identity that logs in there (the vendor merges the anonymous profile into
// it).
//
// Rights change only by authority, and every suppression keeps its origin
// (Reason): admin-erasure > admin > erasure > optout. A weaker signal never
// replaces a stronger one; the subject's own opt-in lifts only an opt-out
// its traffic made; Unsuppress (the admin API) lifts everything. An erasure
// from traffic (ReasonErasure) is recorded only when the vendor accepted
// the deletion or it carried the tenant's passcode (the proxy decides).
// Verdict.AllowSystem is true only if every applying suppression was an
// opt-out with ct_allow_sys_events_and_communication (ANDed by the caller
// with the tenant option; default false = suppress everything).
//
// An opt-out is forwarded to the vendor until the vendor accepted a request
// carrying it (OptOutUnacknowledged, AckOptOut), so an upstream failure
// cannot swallow it.
//
// # Zero false negatives
//
// The hot set is a complete in-memory set of every subject that can
// suppress a record (suppressed subjects, and devices whose session
// identity is suppressed): 64 shards, each an RWMutex and an open-addressing
// table of 16-byte slots (15 key bytes + 1 byte of Flags) with a parallel
// 1-byte tag array that stays in the CPU caches, so that a miss, the common
// case, rarely touches main memory. It is loaded at start-up from a
// dedicated store bucket. Nothing is evicted; a 120-bit prefix collision can
// only over-suppress. Writes commit to the store
// first and then update memory under the shard lock, so the next call sees
// them. If a commit fails, the new suppressions are still applied in
// memory, the registry turns unhealthy until its recovery loop has reloaded
// memory from the store, and every lookup answers StatusUnknown, which
// Verdict.Drop treats as drop. The only
// caches (device → session identity, and subject → stored marketing
// consent, used to skip store reads in Learn; the consent cache on the
// embedded store only, since a fleet instance learns another's consent
// change only when the feed brings it) are updated only in commit
// order (local commits, or the feed of a shared store: an entry is dropped
// for every record a change writes) and from reads that no commit
// overtook; a link entry is trusted for 24 hours. They never decide a
// lookup, only whether Learn must read. No
// ristretto: a lossy cache cannot answer "not suppressed", and the exact
// table answers a miss from the CPU caches and a hit with one memory access.
//
// # Admin, access and log
//
// Suppress, Unsuppress, Erase and Show take a Ref naming exactly one subject
// and the actor (admin token name), log the request, and return a Report
// (JSON-ready: suppression state, reason, timestamps, number of linked
// devices or identities, marketing consent per channel). Log(since) iterates
// the durable rights-request log (what, when, actor, tenant, subject key
// prefix). ValidateIdentifier checks admin input. Errors wrap
// ErrInvalidSubject (→ 400), ErrUnavailable (→ 503) or ErrKeyMismatch.
//
// # Wiring into the proxy (CleverTap)
//
//   - SDK batch (/a1, web /a?d=): dev := Key(tenant, KindDevice, g);
//     per record ref := Ref{Tenant: tenant, Device: dev, HasDevice: true},
//     plus WithIdentity(Key(tenant, KindIdentity, id)) for a profile that
//     carries an identity key. Signals from profile.ct_optout,
//     ct_allow_sys_events_and_communication (AND the tenant option) and
//     the marketing flags, which the format adapter maps to Channels
//     (the registry knows no vendor key names).
//   - REST /1/upload: identity → identity; objectId (the GUID) → device.
//   - /1/delete/profiles.json: with the tenant's passcode, Erase each
//     identity / guid first, then forward the translated delete upstream;
//     without it, forward and Erase only after the vendor's 2xx.
//   - Campaigns (/1/send/push.json, /1/targets/*.json): drop each target for
//     which CampaignAllowed(ref, channel, tenantRequiresOptIn) is false.
//   - /readyz: Healthy(). Metrics: Len().
//
// # Buffer lifetimes
//
// No method retains a byte slice it was given. Ref, Key and Report values
// are plain values owned by the caller.
package rights
