package detect

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Class bits for hotword tables.
const (
	bPhone uint16 = 1 << iota
	bAdID
	bIP
	bMAC
	bSSN
	bCard
	bAll = bPhone | bAdID | bIP | bMAC | bSSN | bCard
)

// hot is what one context word says: the classes it supports (pos) and the
// classes it vetoes (neg), because it names a business identifier (order,
// invoice, sku, version, build, request id, ...).
type hot struct{ pos, neg uint16 }

// Options configure Find. Build them once (NewOptions) and share them; they
// are read-only.
type Options struct {
	// Regions are the ISO 3166 regions (upper case, "GB" not "UK") in which
	// national phone numbers (trunk prefix, no country code) are read,
	// first the tenant's default. Numbers with their own prefix (+, 00)
	// need none.
	Regions []string
	// Text enables the cue-gated detectors of names, street addresses and
	// birth dates in free text.
	Text bool

	words    map[string]hot
	regionID uint64 // hash of Regions, part of the phone cache key
}

// HotwordSet is a policy's addition to the built-in context words of one
// detector class: words that make a candidate of the class more likely
// (Positive) and words that name a business identifier and veto it
// (Negative). Words are matched lower-cased and whole.
type HotwordSet struct {
	Positive []string `json:"positive"`
	Negative []string `json:"negative"`
}

// Languages of the built-in context words; English is always on.
var Languages = []string{"en", "de", "fr", "es", "it", "nl", "pt"}

// Default is the options of a tenant that configured none: region US,
// context words in every built-in language, text detectors on.
var Default = MustOptions([]string{"US"}, nil, nil, true)

// MustOptions is NewOptions for static configuration; it panics on error.
func MustOptions(regions, languages []string, extra map[string]HotwordSet, text bool) *Options {
	o, err := NewOptions(regions, languages, extra, text)
	if err != nil {
		panic(err)
	}
	return o
}

// NewOptions builds detector options: regions for national phone numbers
// (empty: US), the languages of the tenant's locale list whose context
// words apply besides English (empty: all built-in), extra context words
// by detector class, and whether the text detectors run.
func NewOptions(regions, languages []string, extra map[string]HotwordSet, text bool) (*Options, error) {
	o := &Options{Text: text, words: map[string]hot{}}
	if len(regions) == 0 {
		regions = []string{"US"}
	}
	for _, r := range regions {
		r = strings.ToUpper(r)
		if r == "UK" {
			r = "GB"
		}
		if len(r) != 2 || !validRegion(r) {
			return nil, fmt.Errorf("unknown phone region %q (want an ISO 3166 alpha-2 code such as US, GB, DE)", r)
		}
		o.Regions = append(o.Regions, r)
	}
	var h uint64 = 14695981039346656037
	for _, r := range o.Regions {
		h = (h ^ uint64(r[0])) * 1099511628211
		h = (h ^ uint64(r[1])) * 1099511628211
	}
	o.regionID = h
	if len(languages) == 0 {
		languages = Languages
	}
	langs := map[string]bool{"en": true}
	for _, l := range languages {
		l = strings.ToLower(l)
		if i := strings.IndexAny(l, "-_"); i > 0 {
			l = l[:i] // de-AT → de
		}
		langs[l] = true
	}
	for _, e := range builtinWords {
		if !langs[e.lang] {
			continue
		}
		for _, w := range strings.Fields(e.words) {
			o.add(w, e.pos, e.neg)
		}
	}
	for class, set := range extra {
		b := classBit(class)
		if b == 0 {
			return nil, fmt.Errorf("hotwords: unknown detector class %q", class)
		}
		for _, w := range set.Positive {
			o.add(strings.ToLower(w), b, 0)
		}
		for _, w := range set.Negative {
			o.add(strings.ToLower(w), 0, b)
		}
	}
	return o, nil
}

func (o *Options) add(w string, pos, neg uint16) {
	h := o.words[w]
	h.pos |= pos
	h.neg |= neg
	h.neg &^= pos & h.pos & neg // a word listed both ways supports
	o.words[w] = h
}

func classBit(c string) uint16 {
	switch c {
	case ClassPhone:
		return bPhone
	case ClassAdID:
		return bAdID
	case ClassIP:
		return bIP
	case ClassMAC:
		return bMAC
	case ClassSSN:
		return bSSN
	case ClassCard:
		return bCard
	}
	return 0
}

// builtinWords are the context words by language. Negative words name
// business identifiers (orders, invoices, products, parcels, versions,
// request ids) and veto the identifier classes they list.
var builtinWords = []struct {
	lang     string
	pos, neg uint16
	words    string
}{
	{"en", bPhone, 0, "call calls calling called phone phones telephone tel tel. mob mobile cell cellphone whatsapp sms text texts fax ring dial hotline landline reach contact ph"},
	{"en", 0, bPhone | bCard | bSSN | bIP | bAdID, "order orders ord invoice invoices inv po sku skus isbn ean upc gtin barcode tracking track awb parcel shipment consignment ref reference build version ver release serial sn model part item article qty ticket case confirmation booking transaction txn receipt batch lot code voucher coupon product catalog catalogue asin pnr"},
	{"en", 0, bIP | bPhone, "sdk firmware fw os android ios chrome firefox safari edge opera mozilla applewebkit khtml gecko webkit app v rev revision patch"},
	{"en", 0, bAdID, "request req trace traceid correlation span session event message msg insert job run commit idempotency nonce uuid guid"},
	{"en", bAdID, 0, "idfa gaid adid aaid ifa advertising advertiser device"},
	{"en", bMAC, 0, "mac hwaddr ether ethernet bssid wlan wi-fi wifi hardware"},
	{"en", bIP, 0, "ip ipv4 ipv6 addr"},
	{"en", bSSN, 0, "ssn ssns social"},
	{"en", bCard, 0, "card visa mastercard amex cc"},
	{"de", bPhone, 0, "telefon tel telefonnummer handy handynummer mobil mobilnummer anrufen rufen ruf rückruf erreichbar durchwahl festnetz"},
	{"de", 0, bPhone | bCard | bSSN | bIP | bAdID, "bestellung bestellnummer bestellnr rechnung rechnungsnummer rechnungsnr auftrag auftragsnummer artikel artikelnummer artnr sendung sendungsnummer paket lieferschein kundennummer belegnummer referenz vorgang vorgangsnummer seriennummer"},
	{"fr", bPhone, 0, "téléphone tél portable mobile appeler appelez appelle joindre rappeler"},
	{"fr", 0, bPhone | bCard | bSSN | bIP | bAdID, "commande facture référence reference suivi colis article produit numéro_de_commande"},
	{"es", bPhone, 0, "teléfono telefono tel móvil movil celular llamar llame llámame llamame whatsapp"},
	{"es", 0, bPhone | bCard | bSSN | bIP | bAdID, "pedido factura referencia seguimiento envío envio artículo articulo producto"},
	{"it", bPhone, 0, "telefono tel cellulare cell chiamare chiama chiamami"},
	{"it", 0, bPhone | bCard | bSSN | bIP | bAdID, "ordine fattura riferimento spedizione articolo prodotto"},
	{"nl", bPhone, 0, "telefoon tel mobiel bel bellen gsm"},
	{"nl", 0, bPhone | bCard | bSSN | bIP | bAdID, "bestelling factuur referentie zending artikel bestelnummer"},
	{"pt", bPhone, 0, "telefone tel celular telemóvel ligue ligar"},
	{"pt", 0, bPhone | bCard | bSSN | bIP | bAdID, "encomenda fatura pedido referência rastreio artigo produto"},
}

// Context windows: words are looked up within ctxBytes bytes and ctxWords
// words before a candidate, and ctxAfterWords words after it; a window
// never crosses a line, a '|' or a ';'.
const (
	ctxBytes      = 40
	ctxWords      = 3
	ctxAfterWords = 2
)

// context reports the nearest context word before s[start] (then after
// s[end]) that says something about class bit b: +1 support, -1 veto, 0
// nothing; cue is the word (a static string from the table).
//
// An id prefix glued to the candidate ("ORD-", "PO-", "SKU_", "Chrome/",
// "#") is the nearest context of all: it vetoes unless it is itself a
// supporting word ("tel-").
func (o *Options) context(s []byte, start, end int, b uint16) (int, string) {
	if start > 0 {
		switch c := s[start-1]; c {
		case '#':
			return -1, "#"
		case '-', '_', '/':
			if start >= 2 && charClass[s[start-2]]&cLetter != 0 {
				w, cue := o.wordBefore(s, start-1)
				if w.pos&b != 0 {
					return 1, cue
				}
				if cue == "" {
					cue = "id-prefix"
				}
				return -1, cue
			}
		}
	}
	// Before: up to ctxWords words within ctxBytes.
	j := start
	for n := 0; n < ctxWords && j > 0 && start-j < ctxBytes; n++ {
		// skip separators
		for j > 0 && start-j < ctxBytes {
			c := s[j-1]
			if c == '\n' || c == '|' || c == ';' {
				return o.after(s, end, b)
			}
			if c < 0x80 && charClass[c]&cAlnum == 0 || c >= '0' && c <= '9' {
				j--
				continue
			}
			if c >= 0x80 {
				if r, n := utf8.DecodeLastRune(s[:j]); !unicode.IsLetter(r) {
					j -= n // "n°", "№", "«"
					continue
				}
			}
			break
		}
		if j == 0 {
			break
		}
		k := wordStart(s, j)
		if k == j {
			break
		}
		if h, cue := o.lookup(s[k:j]); h.pos&b != 0 {
			return 1, cue
		} else if h.neg&b != 0 {
			return -1, cue
		}
		j = k
	}
	return o.after(s, end, b)
}

func (o *Options) after(s []byte, end int, b uint16) (int, string) {
	j := end
	for n := 0; n < ctxAfterWords && j < len(s); n++ {
		for j < len(s) {
			c := s[j]
			if c == '\n' || c == '|' || c == ';' || c == '.' {
				return 0, ""
			}
			if c < 0x80 && charClass[c]&cAlnum == 0 || isDigit(c) {
				j++
				continue
			}
			break
		}
		k := j
		for k < len(s) && (s[k] >= 0x80 || charClass[s[k]]&cLetter != 0) {
			k++
		}
		if k == j {
			break
		}
		if h, cue := o.lookup(s[j:k]); h.pos&b != 0 {
			return 1, cue
		} else if h.neg&b != 0 {
			return -1, cue
		}
		j = k
	}
	return 0, ""
}

// wordBefore looks up the word that ends at s[end].
func (o *Options) wordBefore(s []byte, end int) (hot, string) {
	k := wordStart(s, end)
	return o.lookup(s[k:end])
}

// wordStart returns the start of the letter run that ends at s[j].
func wordStart(s []byte, j int) int {
	k := j
	for k > 0 {
		c := s[k-1]
		if c < 0x80 {
			if charClass[c]&cLetter == 0 {
				break
			}
			k--
			continue
		}
		r, n := utf8.DecodeLastRune(s[:k])
		if !unicode.IsLetter(r) {
			break
		}
		k -= n
	}
	return k
}

// lookup finds a word, lower-cased, in the table. The returned cue is the
// table's own key, so it does not allocate.
func (o *Options) lookup(w []byte) (hot, string) {
	if len(w) == 0 || len(w) > 24 {
		return hot{}, ""
	}
	var buf [48]byte
	b := buf[:0]
	for i := 0; i < len(w); {
		c := w[i]
		if c < 0x80 {
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			b = append(b, c)
			i++
			continue
		}
		r, n := utf8.DecodeRune(w[i:])
		if len(b)+4 > len(buf) {
			return hot{}, ""
		}
		b = utf8.AppendRune(b, unicode.ToLower(r))
		i += n
	}
	h, ok := o.words[string(b)]
	if !ok {
		return hot{}, ""
	}
	return h, cueOf(b)
}

// cueOf returns the table key equal to b. Go's map iteration cannot give
// the stored key by lookup, so the built-in words are interned once.
func cueOf(b []byte) string {
	if s, ok := interned[string(b)]; ok {
		return s
	}
	return "hotword"
}

// interned maps every built-in context word to itself, so that Finding.Cue
// can name the word without allocating.
var interned = func() map[string]string {
	m := map[string]string{}
	for _, e := range builtinWords {
		for _, w := range strings.Fields(e.words) {
			m[w] = w
		}
	}
	return m
}()

// vetoed reports whether the context of s[start:end] vetoes class bit b
// (an id prefix or a business-identifier word nearest to it), and the
// supporting cue when there is one.
func vetoed(s []byte, start, end int, b uint16, o *Options) (bool, string) {
	v, cue := o.context(s, start, end, b)
	if v < 0 {
		return true, cue
	}
	if v > 0 {
		return false, cue
	}
	return false, ""
}

// NoText is Default without the name, address and birth-date detectors.
var NoText = MustOptions([]string{"US"}, nil, nil, false)

// String describes the options (for logs and golden files).
func (o *Options) String() string {
	if o == nil {
		return "<default>"
	}
	return fmt.Sprintf("regions=%s text=%v words=%d", strings.Join(o.Regions, ","), o.Text, len(o.words))
}
