package corpus

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// Kind names one payload family of the corpus.
type Kind string

// The payload families. Dense is an Android batch of 10 records full of
// personal data (named sdk10 before; ParseKind still accepts that name);
// the number in the other fixed names is the records per request, not
// counting the SDK's meta header. Typical and Churn look like traffic
// (traffic.go): requests of varying size whose device and identity ids
// are filled in per send (Slots).
const (
	Dense   Kind = "dense"
	SDK1    Kind = "sdk1"
	SDK50   Kind = "sdk50"
	REST100 Kind = "rest100"
	Typical Kind = "typical"
	Churn   Kind = "churn"
	// SDK10 is the old name of Dense.
	SDK10 = Dense
)

// Formats as named in the policy input (DESIGN.md, input.format).
const (
	FormatSDK  = "clevertap.sdk"
	FormatREST = "clevertap.rest"
)

// Kinds lists every payload family in a stable order.
func Kinds() []Kind { return []Kind{Dense, Typical, Churn, SDK1, SDK50, REST100} }

// aliases are other accepted names of kinds.
var aliases = map[string]Kind{"sdk10": Dense}

// ErrUnknownKind is returned by ParseKind for a name not in Kinds.
var ErrUnknownKind = errors.New("unknown corpus kind")

// ParseKind maps a name such as "sdk10" to its Kind.
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds() {
		if string(k) == s {
			return k, nil
		}
	}
	if k, ok := aliases[s]; ok {
		return k, nil
	}
	return "", fmt.Errorf("cannot parse corpus %q: %w (want one of dense (alias sdk10), typical, churn, sdk1, sdk50, rest100)", s, ErrUnknownKind)
}

// Records returns how many records a request of this kind carries; 0 for
// the traffic kinds, whose requests vary (Request.Records).
func (k Kind) Records() int {
	switch k {
	case SDK1:
		return 1
	case Dense:
		return 10
	case SDK50:
		return 50
	case REST100:
		return 100
	}
	return 0
}

// Traffic reports whether k is a traffic corpus (typical, churn): requests
// with Slots, meant for a pre-grown rights registry.
func (k Kind) Traffic() bool { return k == Typical || k == Churn }

func (k Kind) known() bool { return k.Records() > 0 || k.Traffic() }

// Format returns the policy input format of this kind.
func (k Kind) Format() string {
	if k == REST100 {
		return FormatREST
	}
	return FormatSDK
}

// Header is one request header.
type Header struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Request is one complete HTTP request of the corpus. Body is shared by
// every user of the corpus and must not be modified.
type Request struct {
	Kind    Kind     `json:"kind"`
	Format  string   `json:"format"`
	Method  string   `json:"method"`
	Path    string   `json:"path"` // path and query, e.g. /a1?os=Android&...
	Records int      `json:"records"`
	Headers []Header `json:"headers"`
	// Slots are the places in Body that the sender fills anew for every
	// request it sends (traffic corpora only): see Slot.
	Slots []Slot `json:"slots,omitempty"`
	Body  []byte `json:"-"`
}

// Defaults for Options.
const (
	DefaultVariants = 16
	DefaultAccount  = "TEST-W8R-4K6-5Z7Z"
	DefaultToken    = "a1b-2c3"
	DefaultPasscode = "BENCH-PASSCODE-0001"
	// SDKVersion is the Android SDK version code sent as t= and in af.
	SDKVersion = 70700
)

// DefaultEpoch is the clock used when Options.Now is zero, so that dumped
// files do not depend on the day they were written (2026-01-01T00:00:00Z).
var DefaultEpoch = time.Unix(1767225600, 0).UTC()

// Options control generation. The zero value is usable: seed 0, 16
// variants, the default account and DefaultEpoch.
type Options struct {
	Seed     int64
	Variants int       // distinct requests per kind
	Account  string    // X-CleverTap-Account-Id, meta "id", z=
	Token    string    // meta "tk", X-CleverTap-Token
	Passcode string    // X-CleverTap-Passcode (REST)
	Now      time.Time // ts= and record timestamps end here
}

func (o Options) withDefaults() Options {
	if o.Variants <= 0 {
		o.Variants = DefaultVariants
	}
	if o.Account == "" {
		o.Account = DefaultAccount
	}
	if o.Token == "" {
		o.Token = DefaultToken
	}
	if o.Passcode == "" {
		o.Passcode = DefaultPasscode
	}
	if o.Now.IsZero() {
		o.Now = DefaultEpoch
	}
	return o
}

// Generate returns Options.Variants requests of the given kind.
func Generate(kind Kind, opts Options) ([]Request, error) {
	if !kind.known() {
		return nil, fmt.Errorf("cannot generate corpus %q: %w", kind, ErrUnknownKind)
	}
	opts = opts.withDefaults()
	h := fnv.New64a()
	name := string(kind)
	if kind == Dense {
		name = "sdk10" // the stream of its first name: the same bytes as before
	}
	h.Write([]byte(name))
	g := &gen{
		rng:  rand.New(rand.NewPCG(uint64(opts.Seed), h.Sum64())),
		opts: opts,
		now:  opts.Now.Unix(),
	}
	out := make([]Request, 0, opts.Variants)
	for range opts.Variants {
		if kind.Traffic() {
			r, err := g.traffic(kind)
			if err != nil {
				return nil, err
			}
			out = append(out, r)
			continue
		}
		if kind == REST100 {
			out = append(out, g.restUpload(kind))
		} else {
			out = append(out, g.sdkBatch(kind))
		}
	}
	return out, nil
}

type gen struct {
	rng  *rand.Rand
	opts Options
	now  int64
}

// user is one synthetic person.
type user struct {
	first, last, name, email, phone, identity, gender string
	dob                                               int64
	// Subscription choices are the person's: they do not flip between
	// records (a flip is a real change and costs the rights store a write).
	msgEmail, msgSMS bool
}

// device is one synthetic Android install.
type device struct {
	guid, adID, make, model, osVersion, carrier, cc, tz, locale, radio string
	lat, lon                                                           float64
	build                                                              int
	version                                                            string
	wifi                                                               bool
}

var (
	firstNames = []string{"Aarav", "Priya", "Jane", "John", "Mei", "Lukas", "Sofia", "Omar", "Amara", "Kenji", "Fatima", "Liam", "Chloe", "Arjun", "Elena", "Mateo"}
	lastNames  = []string{"Sharma", "Doe", "Müller", "Rossi", "Tanaka", "Okafor", "Haddad", "García", "Nguyen", "Smith", "Kowalski", "Iyer", "Dubois", "Silva"}
	domains    = []string{"example.com", "example.org", "mail.example.net", "example.co.in"}
	products   = []string{"Running Shoes", "Denim Jacket", "Wireless Earbuds", "Yoga Mat", "Coffee Grinder", "Backpack 30L", "Smart Watch", "Linen Shirt", "Desk Lamp", "Water Bottle"}
	categories = []string{"Footwear", "Apparel", "Electronics", "Fitness", "Home", "Accessories"}
	screens    = []string{"MainActivity", "ProductActivity", "CartActivity", "CheckoutActivity", "SearchActivity"}
	makes      = []struct{ make, model string }{{"Google", "Pixel 7"}, {"samsung", "SM-S911B"}, {"Xiaomi", "2201117TI"}, {"OnePlus", "CPH2449"}, {"motorola", "moto g54 5G"}}
	carriers   = []struct{ carrier, cc, tz, locale string }{{"Jio 4G", "in", "Asia/Kolkata", "en_IN"}, {"Vodafone DE", "de", "Europe/Berlin", "de_DE"}, {"T-Mobile", "us", "America/Los_Angeles", "en_US"}, {"Orange F", "fr", "Europe/Paris", "fr_FR"}, {"airtel", "in", "Asia/Kolkata", "hi_IN"}}
	radios     = []string{"4G", "5G", "3G", "WiFi"}
	networks   = []string{"WiFi", "4G", "5G", "3G"}
	payments   = []string{"Card", "UPI", "Wallet", "COD"}
	tiers      = []string{"Bronze", "Silver", "Gold", "Platinum"}
	genders    = []string{"M", "F", "O", "U"}
	queries    = []string{"running shoes size 42", "blue denim jacket", "earbuds noise cancelling", "yoga mat thick", "gift for dad"}
	comments   = []string{
		"Loved it, will buy again",
		"Delivery was two days late but the product is fine",
		"Size runs small, order one up",
		"Great value for the price",
		"Packaging was damaged, item ok",
	}
)

func (g *gen) pick(s []string) string { return s[g.rng.IntN(len(s))] }

func (g *gen) hex(n int) string {
	var sb strings.Builder
	sb.Grow(n)
	for range n {
		sb.WriteByte(hexDigits[g.rng.IntN(16)])
	}
	return sb.String()
}

func (g *gen) digits(n int) string {
	var sb strings.Builder
	sb.Grow(n)
	for range n {
		sb.WriteByte(byte('0' + g.rng.IntN(10)))
	}
	return sb.String()
}

func (g *gen) price() float64 {
	return float64(g.rng.IntN(20000)+99) / 100
}

func (g *gen) user() user {
	f, l := g.pick(firstNames), g.pick(lastNames)
	u := user{first: f, last: l, name: f + " " + l, gender: g.pick(genders)}
	local := strings.ToLower(asciiFold(f) + "." + asciiFold(l))
	u.email = local + strconv.Itoa(g.rng.IntN(1000)) + "@" + g.pick(domains)
	if g.rng.IntN(2) == 0 {
		u.phone = "+91" + "98" + g.digits(8)
	} else {
		u.phone = "+1415555" + g.digits(4)
	}
	u.identity = "cust-" + g.digits(8)
	// 1960-01-01 .. 2005-12-31, at midnight UTC like the SDKs' $D_ dates.
	u.dob = (-315619200 + int64(g.rng.IntN(16802))*86400)
	u.msgEmail, u.msgSMS = g.rng.IntN(2) == 0, g.rng.IntN(2) == 0
	return u
}

func (g *gen) device() device {
	m := makes[g.rng.IntN(len(makes))]
	c := carriers[g.rng.IntN(len(carriers))]
	d := device{
		guid: "__" + g.hex(32), adID: g.hex(32), make: m.make, model: m.model,
		osVersion: strconv.Itoa(11 + g.rng.IntN(4)), carrier: c.carrier, cc: c.cc, tz: c.tz,
		locale: c.locale, radio: g.pick(radios), wifi: g.rng.IntN(2) == 0,
		build: 100 + g.rng.IntN(60), version: fmt.Sprintf("3.%d.%d", g.rng.IntN(10), g.rng.IntN(10)),
	}
	// Somewhere plausible, 4–6 decimals as apps usually report.
	d.lat = float64(int64((g.rng.Float64()*120-50)*1e5)) / 1e5
	d.lon = float64(int64((g.rng.Float64()*340-170)*1e5)) / 1e5
	return d
}

// appFields is the Android af object (clevertap-wire.md §7.1), also the
// evtData of App Launched.
func (d device) appFields() obj {
	return obj{
		{"Build", strconv.Itoa(d.build)},
		{"Version", d.version},
		{"OS Version", d.osVersion},
		{"SDK Version", SDKVersion},
		{"Make", d.make},
		{"Model", d.model},
		{"Carrier", d.carrier},
		{"cc", d.cc},
		{"useIP", false},
		{"wifi", d.wifi},
		{"BluetoothEnabled", false},
		{"Radio", d.radio},
		{"GoogleAdID", d.adID},
		{"Latitude", d.lat},
		{"Longitude", d.lon},
		{"OS", "Android"},
		{"wdt", 2.72},
		{"hgt", 5.98},
		{"dpi", 420},
		{"dt", 1},
		{"locale", d.locale},
	}
}

// meta is the batch header the Android SDK sends first; firstSession
// marks a device's first session (frs).
func (g *gen) meta(d device, firstSession bool) obj {
	return obj{
		{"type", "meta"},
		{"g", d.guid},
		{"id", g.opts.Account},
		{"tk", g.opts.Token},
		{"af", d.appFields()},
		{"ddnd", false},
		{"frs", firstSession},
		{"l_ts", g.now - int64(g.rng.IntN(86400))},
		{"f_ts", g.now - int64(86400*(1+g.rng.IntN(300)))},
		{"ct_pi", "Identity,Email"},
	}
}

// sdkBatch builds one /a1 request: the meta header, then records from one
// device and one user in one session.
func (g *gen) sdkBatch(kind Kind) Request {
	d, u := g.device(), g.user()
	n := kind.Records()
	session := g.now - int64(60+g.rng.IntN(3600))
	meta := g.meta(d, g.rng.IntN(4) == 0)
	recs := make([]any, 0, n+1)
	recs = append(recs, meta)
	ep := session
	for i := range n {
		ep += int64(g.rng.IntN(20))
		recs = append(recs, g.sdkRecord(d, u, session, ep, i+1))
	}
	body := appendJSON(nil, recs)
	return Request{
		Kind:    kind,
		Format:  FormatSDK,
		Method:  "POST",
		Path:    fmt.Sprintf("/a1?os=Android&t=%d&z=%s&ts=%d", SDKVersion, g.opts.Account, g.now),
		Records: n,
		Headers: []Header{
			{"Content-Type", "application/json; charset=utf-8"},
			{"X-CleverTap-Account-Id", g.opts.Account},
			{"X-CleverTap-Token", g.opts.Token},
		},
		Body: body,
	}
}

// sessionMeta appends the keys every Android event carries.
func (g *gen) sessionMeta(o obj, session, ep int64, pg int) obj {
	return o.with("ep", ep).with("s", session).with("pg", pg).
		with("n", g.pick(screens)).with("f", false).with("lsl", 0)
}

// sdkRecord draws one record from the mix: product views dominate, then
// free text, cart, purchases, profile pushes, launches and pings.
func (g *gen) sdkRecord(d device, u user, session, ep int64, pg int) obj {
	switch r := g.rng.IntN(100); {
	case r < 30:
		data := obj{{"Price", g.price()}, {"Email", u.email}, {"Product", g.pick(products)}}
		if g.rng.IntN(2) == 0 {
			data = data.with("Category", g.pick(categories))
		}
		return g.sessionMeta(obj{{"type", "event"}, {"evtName", "Product Viewed"}, {"evtData", data}}, session, ep, pg)
	case r < 50:
		return g.sessionMeta(obj{{"type", "event"}, {"evtName", "Feedback Submitted"}, {"evtData", obj{
			{"Rating", 1 + g.rng.IntN(5)},
			{"Comment", g.freeText(u)},
			{"Product", g.pick(products)},
		}}}, session, ep, pg)
	case r < 60:
		return g.sessionMeta(obj{{"type", "event"}, {"evtName", "Added To Cart"}, {"evtData", obj{
			{"Product", g.pick(products)},
			{"Price", g.price()},
			{"Quantity", 1 + g.rng.IntN(3)},
		}}}, session, ep, pg)
	case r < 70:
		return g.sessionMeta(obj{{"type", "event"}, {"evtName", "Charged"}, {"evtData", g.charged(u)}}, session, ep, pg)
	case r < 80:
		return g.sessionMeta(obj{{"type", "profile"}, {"profile", g.sdkProfile(d, u)}}, session, ep, pg)
	case r < 90:
		return g.sessionMeta(obj{{"type", "event"}, {"evtName", "App Launched"}, {"evtData", d.appFields()}}, session, ep, pg)
	default:
		return obj{
			{"type", "ping"},
			{"nt", g.pick(networks)},
			{"mc", 100 + g.rng.IntN(400)},
			{"ep", ep},
			{"s", session},
			{"pg", pg},
			{"n", g.pick(screens)},
			{"f", false},
			{"lsl", 0},
		}
	}
}

func (g *gen) charged(u user) obj {
	items := make([]any, 0, 4)
	total := 0.0
	for range 1 + g.rng.IntN(4) {
		p, q := g.price(), 1+g.rng.IntN(3)
		total += p * float64(q)
		items = append(items, obj{
			{"Category", g.pick(categories)},
			{"Product", g.pick(products)},
			{"Quantity", q},
			{"Price", p},
		})
	}
	return obj{
		{"Amount", float64(int64(total*100)) / 100},
		{"Payment Mode", g.pick(payments)},
		{"Charged ID", "ORD-" + g.digits(9)},
		{"Email", u.email},
		{"Items", items},
	}
}

func (g *gen) sdkProfile(d device, u user) obj {
	p := obj{
		{"Name", u.name},
		{"Email", u.email},
		{"Phone", u.phone},
		{"DOB", "$D_" + strconv.FormatInt(u.dob, 10)},
		{"Identity", u.identity},
		{"Gender", u.gender},
		{"tz", d.tz},
		{"Carrier", d.carrier},
		{"cc", d.cc},
	}
	if g.rng.IntN(3) == 0 {
		p = p.with("MSG-email", u.msgEmail).with("MSG-push", true)
	}
	return p
}

// freeText returns a comment that contains the user's email or phone in
// about a third of the cases, as real free-text fields do.
func (g *gen) freeText(u user) string {
	base := g.pick(comments)
	switch g.rng.IntN(6) {
	case 0:
		return base + ". Reach me at " + u.email
	case 1:
		return base + ", call me on " + u.phone
	default:
		return base
	}
}

// restUpload builds one /1/upload request of 100 records: events and
// profile updates for a pool of users (clevertap-wire.md §10.1).
func (g *gen) restUpload(kind Kind) Request {
	n := kind.Records()
	pool := make([]user, 8+g.rng.IntN(8))
	for i := range pool {
		pool[i] = g.user()
	}
	recs := make([]any, 0, n)
	for i := range n {
		u := pool[g.rng.IntN(len(pool))]
		ts := g.now - int64(g.rng.IntN(86400)) + int64(i)
		if g.rng.IntN(10) < 7 {
			var name string
			var data obj
			switch g.rng.IntN(4) {
			case 0:
				name, data = "Charged", g.charged(u)
			case 1:
				name, data = "Feedback Submitted", obj{{"Rating", 1 + g.rng.IntN(5)}, {"Comment", g.freeText(u)}}
			case 2:
				name, data = "Searched", obj{{"Query", g.pick(queries)}, {"Results", g.rng.IntN(200)}}
			default:
				name, data = "Product Viewed", obj{{"Price", g.price()}, {"Product", g.pick(products)}, {"Email", u.email}}
			}
			recs = append(recs, obj{
				{"identity", u.identity},
				{"type", "event"},
				{"evtName", name},
				{"evtData", data},
				{"ts", ts},
			})
			continue
		}
		recs = append(recs, obj{
			{"identity", u.identity},
			{"type", "profile"},
			{"ts", ts},
			{"profileData", obj{
				{"Name", u.name},
				{"Email", u.email},
				{"Phone", u.phone},
				{"Gender", u.gender},
				{"DOB", "$D_" + strconv.FormatInt(u.dob, 10)},
				{"Customer Type", g.pick(tiers)},
				{"MSG-email", u.msgEmail},
				{"MSG-sms", u.msgSMS},
			}},
		})
	}
	body := appendJSON(nil, obj{{"d", recs}})
	return Request{
		Kind:    kind,
		Format:  FormatREST,
		Method:  "POST",
		Path:    "/1/upload",
		Records: n,
		Headers: []Header{
			{"Content-Type", "application/json; charset=utf-8"},
			{"X-CleverTap-Account-Id", g.opts.Account},
			{"X-CleverTap-Passcode", g.opts.Passcode},
		},
		Body: body,
	}
}

// asciiFold keeps email local parts ASCII ("Müller" → "muller").
func asciiFold(s string) string {
	r := strings.NewReplacer("ü", "u", "í", "i", "é", "e", "á", "a", "ó", "o")
	return r.Replace(s)
}
