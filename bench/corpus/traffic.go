package corpus

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"strconv"
)

// Traffic corpora (Typical, Churn) are Android SDK batches whose subject
// ids change with every request sent, as a live app population's do. A
// fixed set of variants gives the shapes and the mix; each variant's ids
// are Slots that the sender fills per request:
//
//   - a population member m (drawn per request from [0, population)): the
//     device MemberDevice(seed, m) and the identity MemberIdentity(m), the
//     pair a pre-grown rights registry links (bench -registry-size);
//   - a fresh number n (a counter, never repeated within a run): the device
//     FreshDevice(seed, n), never seen before, the identity FreshIdentity(n)
//     and a one-off event name.
//
// Typical: 1–5 records per batch, mostly events with a few properties, a
// profile push (onUserLogin-style, with Identity) now and then; 90 % of
// requests from returning members, 10 % from new installs. Which member
// sends is the sender's choice (bench/internal/load: a member sends a
// session of requests, -session, before another one drawn uniformly takes
// its place).
//
// Churn: every request from a fresh device (a new install: App Launched
// first), one in five with a login (a profile push with Identity, which
// links identity and device), 1 % with a one-off event name, 3 in 1,000
// with an opt-out (a profile push {"ct_optout":true,
// "ct_allow_sys_events_and_communication":false}, what Android's
// setOptOut(true) sends).
//
// Ids keep the SDK's shapes: a device is "__" + 32 hex digits (Android's
// GUID), the last 16 of which are the slot.

// SlotKind says what a slot holds.
type SlotKind uint8

// Slot kinds. Every slot is SlotWidth bytes of lower-case hex.
const (
	SlotMemberDevice   SlotKind = iota + 1 // last 16 hex digits of the member's device id
	SlotMemberIdentity                     // the member's identity number
	SlotFreshDevice                        // last 16 hex digits of a never-seen device id
	SlotFreshIdentity                      // a never-seen identity number
	SlotFreshName                          // a one-off event name suffix
)

// SlotWidth is the width of every slot in bytes.
const SlotWidth = 16

// Slot is one place in a request body the sender fills per request.
type Slot struct {
	Offset int      `json:"offset"`
	Kind   SlotKind `json:"kind"`
}

// placeholders mark slots while a body is built; they are replaced by
// zeros and recorded as Slots.
var placeholders = map[SlotKind]string{
	SlotMemberDevice:   "QQmemberdevQQQQQ",
	SlotMemberIdentity: "QQmemberidQQQQQQ",
	SlotFreshDevice:    "QQfreshdevQQQQQQ",
	SlotFreshIdentity:  "QQfreshidQQQQQQQ",
	SlotFreshName:      "QQfreshnameQQQQQ",
}

// devicePrefix is the fixed first half (16 hex digits) of member or fresh
// device ids for a seed.
func devicePrefix(seed int64, fresh bool) string {
	h := fnv.New64a()
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(seed))
	h.Write(b[:])
	if fresh {
		h.Write([]byte("fresh"))
	} else {
		h.Write([]byte("member"))
	}
	return fmt.Sprintf("%016x", h.Sum64())
}

func hex16(n uint64) string { return fmt.Sprintf("%016x", n) }

// MemberDevice is the CleverTap id of population member m's device.
func MemberDevice(seed int64, m uint64) string { return "__" + devicePrefix(seed, false) + hex16(m) }

// MemberIdentity is population member m's Identity.
func MemberIdentity(m uint64) string { return "cust-" + hex16(m) }

// FreshDevice is the CleverTap id of the n-th new install.
func FreshDevice(seed int64, n uint64) string { return "__" + devicePrefix(seed, true) + hex16(n) }

// FreshIdentity is the Identity of the n-th new sign-up.
func FreshIdentity(n uint64) string { return "new-" + hex16(n) }

// Fill writes member m and fresh number n into the slots of body (a copy of
// a Request's Body, same length).
func Fill(body []byte, slots []Slot, m, n uint64) {
	for _, s := range slots {
		v := n
		if s.Kind == SlotMemberDevice || s.Kind == SlotMemberIdentity {
			v = m
		}
		b := body[s.Offset : s.Offset+SlotWidth]
		for i := SlotWidth - 1; i >= 0; i-- {
			b[i] = hexDigits[v&0xF]
			v >>= 4
		}
	}
}

// traffic builds one request of a traffic corpus.
func (g *gen) traffic(kind Kind) (Request, error) {
	d, u := g.device(), g.user()
	member := kind == Typical && g.rng.IntN(10) != 0
	if member {
		d.guid = "__" + devicePrefix(g.opts.Seed, false) + placeholders[SlotMemberDevice]
		u.identity = "cust-" + placeholders[SlotMemberIdentity]
	} else {
		d.guid = "__" + devicePrefix(g.opts.Seed, true) + placeholders[SlotFreshDevice]
		u.identity = "new-" + placeholders[SlotFreshIdentity]
	}
	session := g.now - int64(g.rng.IntN(1800))
	ep := session
	var recs []any
	next := func() int64 { ep += int64(g.rng.IntN(20)); return ep }
	pg := 0
	add := func(o obj, withMeta bool) {
		pg++
		if withMeta {
			o = g.sessionMeta(o, session, next(), pg)
		}
		recs = append(recs, o)
	}
	switch kind {
	case Churn:
		// A new install: App Launched with the app fields, a first screen,
		// sometimes a login, rarely an opt-out or a one-off event.
		add(obj{{"type", "event"}, {"evtName", "App Launched"}, {"evtData", d.appFields()}}, true)
		add(g.lightEvent(), true)
		if g.rng.IntN(5) == 0 {
			add(obj{{"type", "profile"}, {"profile", g.loginProfile(d, u)}}, true)
		}
		if g.rng.IntN(100) == 0 {
			add(g.oneOff(), true)
		}
		if g.rng.IntN(1000) < 3 {
			add(obj{{"type", "profile"}, {"profile", obj{{"ct_optout", true}, {"ct_allow_sys_events_and_communication", false}}}}, true)
		}
	default:
		n := 1 + g.rng.IntN(5)
		for range n {
			switch r := g.rng.IntN(100); {
			case r < 6 && member:
				add(obj{{"type", "profile"}, {"profile", g.loginProfile(d, u)}}, true)
			case r < 10:
				add(obj{{"type", "event"}, {"evtName", "App Launched"}, {"evtData", d.appFields()}}, true)
			case r < 14:
				pg++
				recs = append(recs, obj{{"type", "ping"}, {"nt", g.pick(networks)}, {"mc", 100 + g.rng.IntN(400)},
					{"ep", next()}, {"s", session}, {"pg", pg}, {"n", g.pick(screens)}, {"f", false}, {"lsl", 0}})
			default:
				add(g.lightEvent(), true)
			}
		}
		if g.rng.IntN(100) == 0 {
			add(g.oneOff(), true)
		}
	}
	meta := g.meta(d, !member)
	body := appendJSON(nil, append([]any{meta}, recs...))
	body, slots, err := extractSlots(body)
	if err != nil {
		return Request{}, err
	}
	req := g.sdkRequest(kind, len(recs), body)
	req.Slots = slots
	return req, nil
}

// lightEvent is an event with a few properties and no personal data.
func (g *gen) lightEvent() obj {
	switch g.rng.IntN(4) {
	case 0:
		return obj{{"type", "event"}, {"evtName", "Added To Cart"}, {"evtData", obj{
			{"Product", g.pick(products)}, {"Price", g.price()}, {"Quantity", 1 + g.rng.IntN(3)}}}}
	case 1:
		return obj{{"type", "event"}, {"evtName", "Searched"}, {"evtData", obj{
			{"Query", g.pick(queries)}, {"Results", g.rng.IntN(200)}}}}
	default:
		return obj{{"type", "event"}, {"evtName", "Product Viewed"}, {"evtData", obj{
			{"Product", g.pick(products)}, {"Category", g.pick(categories)}, {"Price", g.price()}}}}
	}
}

// oneOff is an event whose name no other request carries (a campaign or
// experiment name): a record shape never seen before.
func (g *gen) oneOff() obj {
	return obj{{"type", "event"}, {"evtName", "Promo " + placeholders[SlotFreshName]}, {"evtData", obj{
		{"Variant", g.pick([]string{"A", "B"})}, {"Screen", g.pick(screens)}}}}
}

// loginProfile is the profile push of onUserLogin: the identity keys
// (ct_pi "Identity,Email") and a few profile properties.
func (g *gen) loginProfile(d device, u user) obj {
	return obj{
		{"Identity", u.identity},
		{"Email", u.email},
		{"Name", u.name},
		{"Phone", u.phone},
		{"tz", d.tz},
	}
}

// sdkRequest wraps an /a1 body.
func (g *gen) sdkRequest(kind Kind, records int, body []byte) Request {
	return Request{
		Kind:    kind,
		Format:  FormatSDK,
		Method:  "POST",
		Path:    "/a1?os=Android&t=" + strconv.Itoa(SDKVersion) + "&z=" + g.opts.Account + "&ts=" + strconv.FormatInt(g.now, 10),
		Records: records,
		Headers: []Header{
			{"Content-Type", "application/json; charset=utf-8"},
			{"X-CleverTap-Account-Id", g.opts.Account},
			{"X-CleverTap-Token", g.opts.Token},
		},
		Body: body,
	}
}

// extractSlots replaces every placeholder in body by zeros and returns the
// slots, in body order.
func extractSlots(body []byte) ([]byte, []Slot, error) {
	var slots []Slot
	for kind := SlotMemberDevice; kind <= SlotFreshName; kind++ {
		p := []byte(placeholders[kind])
		for off := 0; ; {
			i := bytes.Index(body[off:], p)
			if i < 0 {
				break
			}
			at := off + i
			copy(body[at:], "0000000000000000")
			slots = append(slots, Slot{Offset: at, Kind: kind})
			off = at + SlotWidth
		}
	}
	if bytes.Contains(body, []byte("QQ")) {
		return nil, nil, fmt.Errorf("corpus: a slot placeholder was escaped or cut: %.80q", body)
	}
	sortSlots(slots)
	return body, slots, nil
}

func sortSlots(s []Slot) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j].Offset < s[j-1].Offset; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
