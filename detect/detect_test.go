package detect

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

// found renders findings as "class:text" for readable table tests.
func found(s string) []string {
	var out []string
	for _, f := range Detect(nil, []byte(s)) {
		out = append(out, f.Class+":"+s[f.Start:f.End])
	}
	return out
}

func TestDetect(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want []string // "class:text"; nil means no findings
	}{
		// email
		{"email", "write to alice@example.com today", []string{"contact.email:alice@example.com"}},
		{"email dots plus", "x first.last+tag@mail.example.co.uk.", []string{"contact.email:first.last+tag@mail.example.co.uk"}},
		{"email upper", "BOB_99@EXAMPLE.ORG", []string{"contact.email:BOB_99@EXAMPLE.ORG"}},
		{"email in parens", "(carol@example.io)", []string{"contact.email:carol@example.io"}},
		{"email digits local wins over phone", "14155550123@sms.example.com", []string{"contact.email:14155550123@sms.example.com"}},
		{"email one-letter tld", "a@b.c", nil},
		{"email numeric tld", "a@1.2.3.4", []string{"net.ip:1.2.3.4"}},
		{"email no domain dot", "user@localhost", nil},
		{"email hyphen label end", "a@b-.com", nil},
		{"email twice", "a@x.com,b@y.org", []string{"contact.email:a@x.com", "contact.email:b@y.org"}},
		{"email after bad at", "@ @@ x@ y@z.net", []string{"contact.email:y@z.net"}},
		{"email double dot local", "a..b@x.com", []string{"contact.email:b@x.com"}},
		{"email utf8 local", "Mail jürgen@müller.de.", []string{"contact.email:jürgen@müller.de"}},
		{"handle not email", "follow @consentry on social", nil},

		// phone
		{"e164", "call +14155550123 now", []string{"contact.phone:+14155550123"}},
		{"e164 spaced", "+44 20 7946 0958", []string{"contact.phone:+44 20 7946 0958"}},
		{"us parens", "(415) 555-0123", []string{"contact.phone:(415) 555-0123"}},
		{"us dashes", "tel 415-555-0123.", []string{"contact.phone:415-555-0123"}},
		{"us dots", "415.555.0123", []string{"contact.phone:415.555.0123"}},
		{"plus one dashes", "+1 415-555-0123", []string{"contact.phone:+1 415-555-0123"}},
		{"uk national needs region GB", "0171 1234567", nil},
		{"uk trunk paren", "+44 (0)20 7946 0958", []string{"contact.phone:+44 (0)20 7946 0958"}},
		{"french dots needs region FR", "01.23.45.67.89", nil},
		{"bare nanp", "14155550123", []string{"contact.phone:14155550123"}},
		{"bare 10", "4155550123", []string{"contact.phone:4155550123"}},
		{"bare intl needs context", "447946095812", nil},
		{"bare intl with context", "tel 447946095812", []string{"contact.phone:447946095812"}},
		{"phone then number", "415-555-0123 1700000000", []string{"contact.phone:415-555-0123"}},
		{"unix seconds", "ts=1700000000", nil},
		{"unix ms", "1700000000123", nil},
		{"unix seconds 2001", "1000000000", nil},
		{"10 digits starting 1", "1234567890", nil},
		{"nanp bad area", "11155550123", nil},
		{"bare 9", "415555012", nil},
		{"bare 16", "4155550123456789", nil},
		{"all same", "0000000000", nil},
		{"date dashes", "2024-03-05", nil},
		{"date dots", "05.03.2024", nil},
		{"iso datetime", "2024-03-05T10:11:12Z", nil},
		{"thousands", "12 345 678", nil},
		{"decimal", "3.14159265358", nil},
		{"fraction part", "0.14155550123", nil},
		{"version", "1.2.3.4567", nil},
		{"invalid ip", "192.168.100.256", nil},
		{"inside word", "ID4155550123", nil},
		{"followed by letter", "4155550123x", nil},
		{"short +", "+1234567", nil},
		{"plus zero", "+04155550123", nil},

		// cards
		{"visa", "4111111111111111", []string{"payment.card:4111111111111111"}},
		{"visa spaced", "card 4111 1111 1111 1111 exp 12/29", []string{"payment.card:4111 1111 1111 1111"}},
		{"visa dashed", "4111-1111-1111-1111", []string{"payment.card:4111-1111-1111-1111"}},
		{"mastercard", "5555555555554444", []string{"payment.card:5555555555554444"}},
		{"mastercard 2 series", "2223003122003222", []string{"payment.card:2223003122003222"}},
		{"amex", "3782 822463 10005", []string{"payment.card:3782 822463 10005"}},
		{"discover", "6011111111111117", []string{"payment.card:6011111111111117"}},
		{"jcb", "3530111333300000", []string{"payment.card:3530111333300000"}},
		{"diners", "30569309025904", []string{"payment.card:30569309025904"}},
		{"visa 19", "4111111111111111110", []string{"payment.card:4111111111111111110"}},
		{"card then year", "4111 1111 1111 1111 2029", []string{"payment.card:4111 1111 1111 1111"}},
		{"luhn fails", "4111111111111112", nil},
		{"unknown iin", "9111111111111111", nil},
		{"mixed separators not card", "4111 1111-1111 1111", nil},
		{"card in longer run", "41111111111111110", nil},
		{"amex not 16", "3400000000000009", nil},

		// iban
		{"iban de", "DE89370400440532013000", []string{"finance.iban:DE89370400440532013000"}},
		{"iban de spaced", "IBAN: DE89 3704 0044 0532 0130 00.", []string{"finance.iban:DE89 3704 0044 0532 0130 00"}},
		{"iban gb letters", "GB82 WEST 1234 5698 7654 32", []string{"finance.iban:GB82 WEST 1234 5698 7654 32"}},
		{"iban fr", "FR1420041010050500013M02606", []string{"finance.iban:FR1420041010050500013M02606"}},
		{"iban no", "NO9386011117947", []string{"finance.iban:NO9386011117947"}},
		{"iban lower", "de89370400440532013000", []string{"finance.iban:de89370400440532013000"}},
		{"iban bad check", "DE89370400440532013001", nil},
		{"iban bad country", "ZZ89370400440532013000", nil},
		{"iban too long", "DE893704004405320130001", nil},
		{"iban odd spacing not iban", "DE89 37040 044 0532 0130 00", nil},

		// ssn
		{"ssn", "ssn 123-45-6789.", []string{"id.ssn:123-45-6789"}},
		{"ssn area 000", "000-12-3456", nil},
		{"ssn area 666", "666-12-3456", nil},
		{"ssn area 9xx", "912-34-5678", nil},
		{"ssn group 00", "123-00-4567", nil},
		{"ssn serial 0000", "123-45-0000", nil},
		{"ssn in longer not ssn", "1123-45-6789", nil},
		{"ssn longer tail not ssn", "123-45-6789-1", nil},
		{"ssn no hyphen", "123456789", nil},

		// ip
		{"ipv4", "from 203.0.113.7, ok", []string{"net.ip:203.0.113.7"}},
		{"ipv4 end of sentence", "host 10.0.0.1.", []string{"net.ip:10.0.0.1"}},
		{"ipv4 with port", "198.51.100.2:8080", []string{"net.ip:198.51.100.2"}},
		{"ipv4 cidr", "10.1.0.0/16", []string{"net.ip:10.1.0.0"}},
		{"ipv4 five parts", "1.2.3.4.5", nil},
		{"ipv4 octet", "256.1.1.1", nil},
		{"ipv4 leading zero", "01.2.3.4", nil},
		{"ipv4 after dot", "10.1.2.3.4", nil},
		{"ipv6", "addr 2001:db8::1 end", []string{"net.ip:2001:db8::1"}},
		{"ipv6 full", "2001:0db8:85a3:0000:0000:8a2e:0370:7334", []string{"net.ip:2001:0db8:85a3:0000:0000:8a2e:0370:7334"}},
		{"ipv6 link local", "fe80::1ff:fe23:4567:890a", []string{"net.ip:fe80::1ff:fe23:4567:890a"}},
		{"ipv6 mapped", "::ffff:192.0.2.128", []string{"net.ip:::ffff:192.0.2.128"}},
		{"ipv6 trailing colon", "2001:db8::1:", []string{"net.ip:2001:db8::1"}},
		{"ipv6 loopback too short", "::1", nil},
		{"cpp path", "std::string a::b", nil},
		{"clock", "10:30:45", nil},
		{"mac not ip", "00:1a:2b:3c:4d:5e", []string{"net.mac:00:1a:2b:3c:4d:5e"}},
		{"ipv6 two ellipses", "1::2::3", nil},

		// ad id
		{"uuid", "adid=123e4567-e89b-12d3-a456-426614174000;", []string{"device.ad_id:123e4567-e89b-12d3-a456-426614174000"}},
		{"uuid v1 not ad id", "6F9619FF-8B86-D011-B42D-00C04FC964FF", nil},
		{"uuid v4 upper", "6F9619FF-8B86-4011-B42D-00C04FC964FF", []string{"device.ad_id:6F9619FF-8B86-4011-B42D-00C04FC964FF"}},
		{"uuid zero", "00000000-0000-0000-0000-000000000000", nil},
		{"hex32 not flagged", "0123456789abcdef0123456789abcdef", nil},
		{"uuid too long", "123e4567-e89b-12d3-a456-4266141740001", nil},
		{"uuid bad char", "123e4567-e89b-12d3-a456-42661417400g", nil},

		// mixed and precedence
		{"several", "alice@example.com, +1 415-555-0123, 4111111111111111, 10.0.0.1",
			[]string{"contact.email:alice@example.com", "contact.phone:+1 415-555-0123", "payment.card:4111111111111111", "net.ip:10.0.0.1"}},
		{"amex 15 is card not phone", "378282246310005", []string{"payment.card:378282246310005"}},
		{"empty", "", nil},

		// precision: business identifiers are not phones, IPs or ad ids
		{"order id", "ORD-2025-000917", nil},
		{"invoice", "INV 2025 123456", nil},
		{"invoice words", "Invoice no. 4155550123 attached", nil},
		{"po", "PO-4155550123", nil},
		{"sku", "SKU 4155550123", nil},
		{"hash id", "order #4155550123", nil},
		{"isbn13", "978-3-16-148410-0", nil},
		{"isbn bare", "9783161484100", nil},
		{"ean13", "4006381333931", nil},
		{"tracking", "tracking 1Z999AA10123456784 and 420221539101026837331", nil},
		{"zip+4", "Springfield 62704-1234", nil},
		{"luhn fail 16 spaced", "4111 1111 1111 1112", nil},
		{"sdk version", "SDK 15.5.7.8", nil},
		{"user agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36", nil},
		{"request uuid v7", "request 01890a5d-ac96-774b-bcce-b302099a8057", nil},
		{"trace uuid v4", "trace id 3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b", nil},
		{"json number de", "4915123456789", nil},

		// recall: national formats, prefixes, extensions, MAC, IDN email
		{"00 prefix", "0044 20 7946 0958", []string{"contact.phone:0044 20 7946 0958"}},
		{"ext", "+1 415 555 2671 ext. 12", []string{"contact.phone:+1 415 555 2671 ext. 12"}},
		{"mac dash", "MAC 00-1A-2B-3C-4D-5E", []string{"net.mac:00-1A-2B-3C-4D-5E"}},
		{"mac cisco", "0000.5e01.5301 up", []string{"net.mac:0000.5e01.5301"}},
		{"mac bare hotword", "bssid 001a2b3c4d5e", []string{"net.mac:001a2b3c4d5e"}},
		{"mac bare alone", "001a2b3c4d5e", nil},
		{"mac placeholder", "02:00:00:00:00:00", nil},
		{"mac doc range", "00-00-5E-00-53-01", nil},
		{"idn email cyrillic", "пишите на иван@пример.рф сегодня", []string{"contact.email:иван@пример.рф"}},
		{"idn email punycode", "ivan@xn--e1afmkfd.xn--p1ai", []string{"contact.email:ivan@xn--e1afmkfd.xn--p1ai"}},
		{"idn email cjk", "邮件 wang@例子.中国 谢谢", []string{"contact.email:wang@例子.中国"}},
		{"fullwidth at", "mail wang＠example.com", []string{"contact.email:wang＠example.com"}},
		{"plain", "Hello world, the order shipped on Tuesday.", nil},
		{"unicode", "Grüße an café — 日本語", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := found(tc.in)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("Detect(%q)\n got %q\nwant %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestDetectAppends(t *testing.T) {
	t.Parallel()
	pre := []Finding{{Class: "x", Start: 0, End: 1}}
	got := Detect(pre, []byte("a@b.co"))
	if len(got) != 2 || got[0].Class != "x" || got[1].Class != ClassEmail {
		t.Fatalf("Detect did not append: %+v", got)
	}
}

func TestLuhn(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"79927398713", true}, {"79927398710", false}, {"4111111111111111", true},
		{"4111111111111112", false}, {"0", true}, {"18", true}, {"12", false},
	} {
		if got := luhn([]byte(tc.in)); got != tc.want {
			t.Errorf("luhn(%s) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// TestParseIPv6 checks the hand-written parser against net/netip.
func TestParseIPv6(t *testing.T) {
	t.Parallel()
	for _, s := range ipv6Seeds {
		checkIPv6(t, s)
	}
}

var ipv6Seeds = []string{
	"::", "::1", "1::", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8",
	"1:2:3:4:5:6:7:8:9", "1::2::3", "::ffff:1.2.3.4", "1:2:3:4:5:6:1.2.3.4",
	"1:2:3:4:5:6:7:1.2.3.4", "1.2.3.4", "12345::", "1:2:3:4:5:6:7:", ":1::",
	"::1.2.3.4", "1::1.2.3.4", "1:2:3:4:5:6::1.2.3.4", "fe80::1ff:fe23:4567:890a",
	"::ffff:01.2.3.4", "2001:db8::", ":", "", "1:::2", "a:b:c:d:e:f:0:1",
}

func checkIPv6(t *testing.T, s string) {
	t.Helper()
	_, _, mine := parseIPv6([]byte(s))
	a, err := netip.ParseAddr(s)
	theirs := err == nil && a.Is6() && a.Zone() == ""
	if mine != theirs {
		t.Errorf("parseIPv6(%q) = %v, netip says %v (%v)", s, mine, theirs, err)
	}
}

func FuzzIPv6(f *testing.F) {
	for _, s := range ipv6Seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if strings.Contains(s, "%") {
			return // zones are out of scope
		}
		checkIPv6(t, s)
	})
}

var detectSeeds = []string{
	"alice@example.com +1 415-555-0123 4111 1111 1111 1111",
	"DE89 3704 0044 0532 0130 00 123-45-6789 203.0.113.7 2001:db8::1",
	"123e4567-e89b-12d3-a456-426614174000 (415) 555-0123 +44 (0)20 7946 0958",
	"1700000000 2024-03-05 12 345 678 ::ffff:1.2.3.4 a@b@c.de",
	"..@..@x.y.z 4111-1111-1111-1111-1111 ((((+1 ::::",
}

// FuzzDetect: findings are in bounds, ordered, non-overlapping, and each
// passes its own validator when checked on its own.
func FuzzDetect(f *testing.F) {
	for _, s := range detectSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, s []byte) {
		prev := 0
		for _, fd := range Detect(nil, s) {
			if fd.Start < prev || fd.End <= fd.Start || fd.End > len(s) {
				t.Fatalf("bad finding %+v after %d in %q", fd, prev, s)
			}
			prev = fd.End
			text := s[fd.Start:fd.End]
			switch fd.Class {
			case ClassIP:
				if _, err := netip.ParseAddr(string(text)); err != nil {
					t.Fatalf("ip finding %q does not parse: %v", text, err)
				}
			case ClassCard:
				var d []byte
				for _, c := range text {
					if isDigit(c) {
						d = append(d, c)
					}
				}
				if !luhn(d) || len(d) < 13 || len(d) > 19 {
					t.Fatalf("card finding %q fails Luhn or length", text)
				}
			case ClassEmail:
				if strings.Count(string(text), "@") != 1 {
					t.Fatalf("email finding %q", text)
				}
			case ClassPhone:
				n := 0
				for _, c := range text {
					if isDigit(c) {
						n++
					}
				}
				if n < 8 || n > 15 {
					t.Fatalf("phone finding %q has %d digits", text, n)
				}
			case ClassName:
				if e := fd.End; e < len(s) && isDigit(s[e]) {
					t.Fatalf("name finding %q glued to digits in %q", text, s)
				}
			case ClassAdID, ClassIBAN, ClassSSN, ClassMAC, ClassAddress, ClassBirthdate:
			default:
				t.Fatalf("unknown class %q", fd.Class)
			}
		}
	})
}

// 200 bytes of event text without personal data, and the same length with.
var (
	benchClean = []byte("Order shipped on Tuesday from the Berlin warehouse; the customer rated delivery 4 of 5 and asked for paper-free packaging next time. Version 3.2 of the app, build 2024-03-05, session 5123 ok!")
	benchPII   = []byte("Order for alice@example.com shipped; call +1 415-555-0123 or (415) 555-0199. Card 4111 1111 1111 1111, IBAN DE89 3704 0044 0532 0130 00, from 203.0.113.7, ad 123e4567-e89b-12d3-a456-426614174000")
	benchShort = []byte("Added to cart from the summer sale page")
)

func BenchmarkDetect(b *testing.B) {
	for _, bc := range []struct {
		name string
		in   []byte
	}{{"clean200", benchClean}, {"pii200", benchPII}, {"short40", benchShort}} {
		b.Run(bc.name, func(b *testing.B) {
			dst := make([]Finding, 0, 16)
			b.SetBytes(int64(len(bc.in)))
			b.ReportAllocs()
			for b.Loop() {
				dst = Detect(dst[:0], bc.in)
			}
		})
	}
}

func TestDetectRegions(t *testing.T) {
	t.Parallel()
	o := MustOptions([]string{"DE", "GB", "FR"}, nil, nil, true)
	for _, tc := range []struct{ in, want string }{
		{"Tel. 030/12345678", "030/12345678"},
		{"ruf an: (0 30) 1234 5678", ""},
		{"0151 23456789", "0151 23456789"},
		{"Handy: 015123456789", "015123456789"},
		{"0171 1234567", "0171 1234567"}, // a DE mobile
		{"020 7946 0958", "020 7946 0958"},
		{"01.23.45.67.89", "01.23.45.67.89"},
		{"+49 (0)151 23456789", "+49 (0)151 23456789"},
		{"Rechnung 20250101", ""},
		{"20250101", ""},
		{"Bestellnummer 0301234567", ""},
	} {
		var got string
		for _, f := range Find(nil, []byte(tc.in), o) {
			if f.Class == ClassPhone {
				got = tc.in[f.Start:f.End]
			}
		}
		if got != tc.want {
			t.Errorf("%q: got phone %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestScannerPercentEncoded(t *testing.T) {
	t.Parallel()
	var sc Scanner
	in := []byte("https://shop.example/p?email=someone%40example.com&tel=%2B14155550123&q=a+b")
	fs, text := sc.Find(nil, in, nil)
	if len(fs) != 2 {
		t.Fatalf("findings %+v", fs)
	}
	if got := string(in[fs[0].Start:fs[0].End]); got != "someone%40example.com" {
		t.Errorf("email span %q", got)
	}
	if got := string(text[fs[0].VStart:fs[0].VEnd]); got != "someone@example.com" {
		t.Errorf("email value %q", got)
	}
	if got := string(in[fs[1].Start:fs[1].End]); got != "%2B14155550123" {
		t.Errorf("phone span %q", got)
	}
}

// Text-heavy inputs: support messages with and without personal data.
var (
	benchText    = []byte("Hello, I ordered the blue jacket last week and it still has not arrived. The tracking page says it is in transit since Monday. Could you please check what happened and let me know? Thanks a lot for your help!")
	benchTextPII = []byte("Hi, my name is Anna Schmidt. Please deliver to Hauptstraße 12, 10115 Berlin, not the old address. Call me on +49 151 23456789 or mail anna.schmidt@example.com. DOB 12.03.1985 for the age check. Thanks, Anna")
)

func BenchmarkDetectText(b *testing.B) {
	for _, bc := range []struct {
		name string
		in   []byte
	}{{"support_clean", benchText}, {"support_pii", benchTextPII}} {
		b.Run(bc.name, func(b *testing.B) {
			dst := make([]Finding, 0, 16)
			b.SetBytes(int64(len(bc.in)))
			b.ReportAllocs()
			for b.Loop() {
				dst = Detect(dst[:0], bc.in)
			}
		})
	}
}

// TestByteClasses checks the word-at-a-time quick reject against the
// byte-by-byte rule it replaces, on every byte at every position of words
// and tails.
func TestByteClasses(t *testing.T) {
	ref := func(s []byte) (ids, text bool) {
		for _, c := range s {
			switch {
			case c >= '0' && c <= '9':
				ids, text = true, true
			case c == '@' || c == ':' || c >= 0x80:
				ids = true
			case c == ' ':
				text = true
			}
		}
		return
	}
	for n := 0; n <= 19; n++ {
		for pos := 0; pos < n; pos++ {
			for c := 0; c < 256; c++ {
				for _, fill := range []byte{'a', 'Z', '/', ';', '?', 'A', 0x1f, 0x7f} {
					s := bytes.Repeat([]byte{fill}, n)
					s[pos] = byte(c)
					ids, text := byteClasses(s)
					wi, wt := ref(s)
					if ids != wi || text != wt {
						t.Fatalf("byteClasses(%q) = %v, %v; want %v, %v", s, ids, text, wi, wt)
					}
					if MayHold(s) != wi {
						t.Fatalf("MayHold(%q) = %v, want %v", s, !wi, wi)
					}
				}
			}
		}
	}
	// Two flagged bytes in one word, one of them non-ASCII.
	for _, s := range []string{"é 1aaaaa", "aaé1aaaa", "aaaaaaaé aaaaaaa", "ü@aaaaaa", "aaaaaaaaaaaaaaé5"} {
		ids, text := byteClasses([]byte(s))
		wi, wt := ref([]byte(s))
		if ids != wi || text != wt {
			t.Fatalf("byteClasses(%q) = %v, %v; want %v, %v", s, ids, text, wi, wt)
		}
	}
}

// TestCleanAgreesWithFind: Clean never claims a text holds nothing where
// Find (or Scanner.Find) finds something, over the whole scoring corpus and
// both option sets, and it does let plain words through.
func TestCleanAgreesWithFind(t *testing.T) {
	var texts []string
	for _, it := range loadCorpus(t) {
		texts = append(texts, leaves(it)...)
	}
	texts = append(texts, "Google", "en_US", "Pixel 7", "App Launched", "ship%40example.com", "a@b.co", "x:y", "Müller")
	var sc Scanner
	cleans := 0
	for _, s := range texts {
		for _, o := range []*Options{Default, NoText, corpusOptions} {
			if !Clean([]byte(s), o) {
				continue
			}
			cleans++
			if f := Find(nil, []byte(s), o); len(f) > 0 {
				t.Fatalf("Clean(%q) but Find finds %v", s, f)
			}
			if f, _ := sc.Find(nil, []byte(s), o); len(f) > 0 {
				t.Fatalf("Clean(%q) but Scanner.Find finds %v", s, f)
			}
		}
	}
	for _, s := range []string{"Google", "en_US", "America/Los_Angeles", "Great value for the price"} {
		if !Clean([]byte(s), NoText) {
			t.Errorf("Clean(%q) = false", s)
		}
	}
	if cleans == 0 {
		t.Fatal("no text was clean")
	}
}
