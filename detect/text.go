package detect

import (
	"bufio"
	"bytes"
	"embed"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Names, street addresses and birth dates in free text, without a model:
// every finding needs a cue, because name and street lists alone contain
// ordinary words (Will, May, Mark, Street) and dates are usually event
// dates.
//
//   - Names: after a self-introduction ("my name is", "ich heiße", "je
//     m'appelle", "me llamo", ...) or a title ("Mr", "Mrs", "Dr", "Herr",
//     "Frau", "Mme", "Sr.", ...): one to three capitalized words (with
//     particles van/von/de/da/di/del/le between them). After a salutation
//     or sign-off ("Dear", "Hi", "Hallo", "Bonjour", "Regards", "Grüße",
//     ...) or "I am"/"this is": only when the first word is in the shipped
//     first-name list.
//   - Street addresses: a house number, one to four words and a street
//     type ("221B Baker Street", "1600 Pennsylvania Avenue NW"); a street
//     type first and a number after ("rue de la Paix 12" is rare, so for
//     FR/ES/IT/PT the number leads: "12 rue de Rivoli", "Via Roma 5",
//     "Calle Mayor 3", "Rua Augusta 27"); a German/Dutch compound ending in
//     a street word and a number ("Hauptstraße 12", "Keizersgracht 123").
//     The span extends over ", postcode city" when it follows.
//   - Birth dates: a date (ISO, d.m.y, d/m/y, m/d/y, "3 March 1985",
//     "March 3, 1985", month names in the built-in languages) with a year
//     from 1900 to 2030 within 30 bytes after a birth cue ("born", "DOB",
//     "date of birth", "geboren am", "geb.", "né le", "fecha de
//     nacimiento", ...).
//
// The name lists (data/) are the first names and surnames of
// github.com/brianvoe/gofakeit v7.18.2 (MIT licence, see data/LICENSE) and
// a short list of European first names written for this project.

//go:embed data/*.txt
var dataFS embed.FS

var firstNames = func() map[string]bool {
	m := map[string]bool{}
	for _, f := range []string{"data/first_names_en.txt", "data/first_names_eu.txt"} {
		b, err := dataFS.ReadFile(f)
		if err != nil {
			panic(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if w := strings.TrimSpace(sc.Text()); w != "" {
				m[w] = true
			}
		}
	}
	return m
}()

type cueKind uint8

const (
	cueNone       cueKind = iota
	cueIntro              // my name is → capitalized words
	cueTitle              // Mr → capitalized words
	cueGreet              // Dear/Hi/Regards/I am → a listed first name
	cueBirth              // born → a date
	cueStreetPre          // rue/via/calle → words (number before or after)
	cueStreetPost         // Street/Avenue → preceded by number and words
)

type cue struct {
	rest []string // following words (lower case)
	kind cueKind
	name string
}

// cues by their first word, lower case.
var cues = func() map[string][]cue {
	m := map[string][]cue{}
	add := func(kind cueKind, phrases ...string) {
		for _, p := range phrases {
			w := strings.Fields(p)
			m[w[0]] = append(m[w[0]], cue{rest: w[1:], kind: kind, name: p})
		}
	}
	add(cueIntro, "my name is", "my name's", "name is", "i'm called", "i am called", "call me", "name:",
		"ich heiße", "ich heisse", "mein name ist", "je m'appelle", "mon nom est", "me llamo",
		"mi nombre es", "mi chiamo", "il mio nome è", "mijn naam is", "ik heet", "meu nome é",
		"chamo-me", "me chamo", "customer:", "kunde:")
	add(cueTitle, "mr", "mrs", "ms", "miss", "dr", "prof", "herr", "frau", "mme", "mlle", "sr", "sra",
		"srta", "sig", "sig.ra", "dhr", "mevr", "monsieur", "madame", "señor", "señora", "signor", "signora")
	add(cueGreet, "dear", "hi", "hello", "hey", "liebe", "lieber", "hallo", "cher", "chère", "bonjour",
		"estimado", "estimada", "hola", "gentile", "caro", "cara", "beste", "geachte", "olá", "prezado",
		"prezada", "regards", "thanks", "cheers", "sincerely", "grüße", "gruß", "cordialement", "saludos",
		"saluti", "groet", "atenciosamente", "i am", "i'm", "this is", "ich bin", "je suis", "soy", "sono",
		"ik ben", "sou", "from")
	add(cueBirth, "born", "dob", "dob:", "d.o.b.", "date of birth", "birthday", "birth date", "birthdate",
		"geboren", "geb.", "geburtsdatum", "geburtstag", "né", "née", "date de naissance", "nacido",
		"nacida", "fecha de nacimiento", "nato", "nata", "data di nascita", "geboren op", "geboortedatum",
		"nascido", "nascida", "data de nascimento")
	add(cueStreetPre, "rue", "avenue", "av.", "boulevard", "bd", "allée", "chemin", "impasse", "quai",
		"via", "viale", "piazza", "corso", "vicolo", "largo", "calle", "c/", "avenida", "avda.", "paseo",
		"plaza", "carretera", "camino", "rua", "travessa", "praça", "estrada")
	add(cueStreetPost, "street", "st", "st.", "avenue", "ave", "ave.", "road", "rd", "rd.", "lane", "ln",
		"drive", "dr.", "boulevard", "blvd", "court", "ct", "place", "pl", "way", "close", "crescent",
		"terrace", "gardens", "square", "parkway", "pkwy", "highway", "hwy", "circle", "cir")
	return m
}()

// streetSuffixes end German and Dutch compound street names.
var streetSuffixes = []string{"straße", "strasse", "str.", "weg", "allee", "platz", "gasse", "damm",
	"ufer", "straat", "laan", "gracht", "plein", "kade", "dijk", "steig", "chaussee"}

var nameParticles = map[string]bool{"van": true, "von": true, "de": true, "da": true, "di": true,
	"del": true, "der": true, "den": true, "le": true, "la": true, "du": true, "dos": true, "das": true}

var months = func() map[string]int {
	m := map[string]int{}
	for i, l := range []string{
		"january february march april may june july august september october november december",
		"jan feb mar apr may jun jul aug sep oct nov dec",
		"januar februar märz april mai juni juli august september oktober november dezember",
		"janvier février mars avril mai juin juillet août septembre octobre novembre décembre",
		"enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre",
		"gennaio febbraio marzo aprile maggio giugno luglio agosto settembre ottobre novembre dicembre",
		"januari februari maart april mei juni juli augustus september oktober november december",
		"janeiro fevereiro março abril maio junho julho agosto setembro outubro novembro dezembro",
	} {
		_ = i
		for k, w := range strings.Fields(l) {
			m[w] = k + 1
		}
	}
	return m
}()

// cueShape is a quick filter before the cue table: (first two bytes
// lower-cased, byte length) of every cue's first word.
var cueShape = func() (m [32 * 32 * 32]bool) {
	for w := range cues {
		m[cueKey([]byte(w), len(w))] = true
		if n := len(w); w[n-1] == '.' || w[n-1] == ':' {
			m[cueKey([]byte(w), n-1)] = true
		}
	}
	return m
}()

func cueKey(w []byte, n int) int {
	b := func(c byte) int {
		c |= 0x20
		if c >= 'a' && c <= 'z' {
			return int(c - 'a')
		}
		return 31
	}
	c1 := 31
	if len(w) > 1 {
		c1 = b(w[1])
	}
	return b(w[0])<<10 | c1<<5 | min(n, 31)
}

// houseNumberNext reports whether a house number follows the word ending
// at t[e] ("Hauptstraße 12", "Bahnhofstr. 5").
func houseNumberNext(t []byte, e int) bool {
	if e < len(t) && t[e] == '.' {
		e++
	}
	return e+1 < len(t) && t[e] == ' ' && isDigit(t[e+1])
}

// streetNext reports whether the number at t[i] is followed by a space and
// a letter, as a house number before a street is.
func streetNext(t []byte, i int) bool {
	for i < len(t) && isDigit(t[i]) {
		i++
	}
	if i < len(t) && charClass[t[i]]&cLetter != 0 {
		i++ // 221B
	}
	if i < len(t) && t[i] == ',' {
		i++
	}
	return i+1 < len(t) && t[i] == ' ' && (charClass[t[i+1]]&cLetter != 0 || t[i+1] >= 0x80)
}

// textCandidate is the quick reject of the text detectors: a sentence has
// at least one space and a few words.
func textCandidate(t []byte) bool {
	return len(t) >= 8 && bytes.IndexByte(t, ' ') >= 0
}

// word is one letter run (with ' - and a trailing '.' or ':' for cues).
type word struct{ s, e int }

// findText adds the text findings of t to dst (which already holds the
// identifier findings from index n0), keeping order and no overlaps.
func findText(dst []Finding, n0 int, t []byte, o *Options) []Finding {
	var lb [32]byte
	n1 := len(dst)
	for i := 0; i < len(t); {
		// next word start
		c := t[i]
		if c < 0x80 && charClass[c]&cLetter == 0 || i > 0 && !wordBoundary(t, i) {
			i++
			continue
		}
		e := wordEnd(t, i)
		var cs []cue
		ok := false
		if cueShape[cueKey(t[i:e], e-i)] {
			lw := lowerWord(lb[:0], t[i:e])
			cs, ok = cues[string(lw)]
			if !ok && e < len(t) && (t[e] == '.' || t[e] == ':') {
				cs, ok = cues[string(append(lw, t[e]))]
			}
		}
		if ok {
			if f, next := matchCue(t, i, e, cs, o); f.End > 0 {
				dst = append(dst, f)
				i = next
				continue
			}
		} else if e-i > 3 && houseNumberNext(t, e) && isUpperStart(t[i:e]) {
			if f := matchCompoundStreet(t, i, e, lowerWord(lb[:0], t[i:e])); f.End > 0 {
				dst = append(dst, f)
				i = f.End
				continue
			}
		}
		if isDigit(c) {
			i++
			continue
		}
		i = e
	}
	// house-number-first addresses start at a number
	for i := 0; i < len(t); i++ {
		if isDigit(t[i]) && (i == 0 || !isAlnum(t[i-1])) && streetNext(t, i) {
			if f := matchNumberStreet(t, i); f.End > 0 {
				dst = append(dst, f)
				i = f.End
			}
		}
	}
	if len(dst) == n1 {
		return dst
	}
	return mergeText(dst, n0, n1)
}

func wordBoundary(t []byte, i int) bool {
	c := t[i-1]
	if c < 0x80 {
		return charClass[c]&cAlnum == 0 && c != '\'' && c != '-'
	}
	r, _ := utf8.DecodeLastRune(t[:i])
	return !unicode.IsLetter(r)
}

// wordEnd returns the end of the word starting at t[i] (letters, and ' or
// - between letters).
func wordEnd(t []byte, i int) int {
	j := i
	for j < len(t) {
		c := t[j]
		if c < 0x80 {
			if charClass[c]&cLetter != 0 || (c == '\'' || c == '-' || c == '/') && j > i && j+1 < len(t) && charClass[t[j+1]]&cLetter != 0 {
				j++
				continue
			}
			break
		}
		r, n := utf8.DecodeRune(t[j:])
		if !unicode.IsLetter(r) && !unicode.Is(unicode.Mn, r) {
			break
		}
		j += n
	}
	if j == i && i < len(t) {
		return i + 1 // one non-letter: callers always move on
	}
	return j // never past the end (found by fuzzing: "dOB 0 10")
}

func lowerWord(dst, w []byte) []byte {
	if len(w) > 28 {
		return dst
	}
	for i := 0; i < len(w); {
		c := w[i]
		if c < 0x80 {
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			dst = append(dst, c)
			i++
			continue
		}
		r, n := utf8.DecodeRune(w[i:])
		dst = utf8.AppendRune(dst, unicode.ToLower(r))
		i += n
	}
	return dst
}

func isUpperStart(w []byte) bool {
	r, _ := utf8.DecodeRune(w)
	return unicode.IsUpper(r)
}

// skipSpace skips spaces and, when punct, the punctuation that may follow a
// cue (':', ',', '.').
func skipSpace(t []byte, j int, punct bool) int {
	for j < len(t) && (t[j] == ' ' || t[j] == '\t' || punct && (t[j] == ':' || t[j] == ',' || t[j] == '.')) {
		j++
	}
	return j
}

// matchCue tries the cue phrases that start with the word t[i:e].
func matchCue(t []byte, i, e int, cs []cue, o *Options) (Finding, int) {
	var lb [32]byte
	for _, c := range cs {
		j := e
		if strings.HasSuffix(c.name, ".") || strings.HasSuffix(c.name, ":") {
			if len(c.rest) == 0 && j < len(t) && (t[j] == '.' || t[j] == ':') {
				j++
			}
		}
		okRest := true
		for _, r := range c.rest {
			j = skipSpace(t, j, false)
			if j >= len(t) {
				okRest = false
				break
			}
			k := wordEnd(t, j)
			if k < len(t) && (t[k] == '.' || t[k] == ':') && strings.HasSuffix(r, string(t[k])) {
				k++
			}
			if string(lowerWord(lb[:0], t[j:k])) != r {
				okRest = false
				break
			}
			j = k
		}
		if !okRest {
			continue
		}
		switch c.kind {
		case cueIntro, cueTitle, cueGreet:
			if c.kind == cueTitle && !isUpperStart(t[i:e]) {
				continue
			}
			if f := matchName(t, j, c); f.End > 0 {
				return f, f.End
			}
		case cueBirth:
			if f := matchBirth(t, j, c); f.End > 0 {
				return f, f.End
			}
		case cueStreetPre:
			if f := matchStreetPre(t, i, j, c); f.End > 0 {
				return f, f.End
			}
		}
	}
	return Finding{}, 0
}

// matchName reads one to three capitalized words (particles between) at
// t[j:] after cue c.
func matchName(t []byte, j int, c cue) Finding {
	j = skipSpace(t, j, c.kind != cueGreet || true)
	if j < len(t) && t[j] == '\n' {
		j = skipSpace(t, j+1, false)
	}
	start := j
	end, words := j, 0
	var lb [32]byte
	for words < 3 && j < len(t) {
		k := wordEnd(t, j)
		w := t[j:k]
		// A word glued to digits ("Aa000") is an identifier, not a name.
		if k-j >= 2 && isUpperStart(w) && !allUpper(w) && (k >= len(t) || !isDigit(t[k])) {
			if words == 0 && c.kind == cueGreet && !firstNames[string(w)] && !fullName(t, j, k) {
				return Finding{}
			}
			if words == 0 && notName[string(w)] {
				return Finding{}
			}
			if words == 0 && c.kind == cueTitle && cues[string(lowerWord(lb[:0], w))] != nil && !firstNames[string(w)] {
				return Finding{}
			}
			words++
			end = k
		} else if words > 0 && nameParticles[string(lowerWord(lb[:0], w))] {
			// particle: only counts if a capitalized word follows
		} else {
			break
		}
		if k < len(t) && t[k] == '.' && k+1 < len(t) && t[k+1] == ' ' && k-j == 1 {
			k++ // initial "J."
		}
		if k >= len(t) || t[k] != ' ' {
			break
		}
		j = k + 1
	}
	if words == 0 {
		return Finding{}
	}
	rule := "name.intro"
	switch c.kind {
	case cueTitle:
		rule = "name.title"
	case cueGreet:
		rule = "name.greeting"
	}
	return Finding{Class: ClassName, Rule: rule, Cue: c.name, Start: start, End: end, VStart: start, VEnd: end}
}

// fullName reports whether the capitalized word t[j:k] is followed by a
// second capitalized word, neither of them a common word of salutations
// ("Dear Valued Customer", "Hi Support Team"): a first name missing from
// the list followed by a surname.
func fullName(t []byte, j, k int) bool {
	if notName[string(t[j:k])] || k+1 >= len(t) || t[k] != ' ' {
		return false
	}
	e := wordEnd(t, k+1)
	w := t[k+1 : e]
	if len(w) < 2 || !isUpperStart(w) || allUpper(w) || notName[string(w)] {
		return false
	}
	return e == len(t) || t[e] == ',' || t[e] == '.' || t[e] == ' ' || t[e] == '!' || t[e] == '\n'
}

// notName are capitalized words that follow salutations and titles but are
// not names: generic addressees, and brand or fiction names led by a title
// (an exclusion list in the manner of DLP exclusion rules).
var notName = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`Team Customer Customers Valued Sir Madam Madame All Everyone There Friends
		Colleagues Member Members User Users Partner Partners Support Service Sales Admin Administrator
		Manager Guest Guests Client Clients Kunde Kunden Kundin Damen Herren Team Mitglied Équipe Client
		Cliente Clientes Amigos Amici Tutti Allemaal Iedereen Todos Customer Service Shopper Subscriber
		Reader Readers Neighbour Neighbor Buyer Seller Owner Happy Thank Thanks Welcome Good Morning
		Evening Afternoon New Your Our The Clean Pepper Bean Potato Right Robot Freeze Hyde Who Strange
		Oz No Proper Muscle Coffee Big Fix Fixit Smith's Universe Olympia Spock
		Ihr Ihre Euer Eure Votre Vos Su Sus Vostro Vostra Uw Jouw Seu Sua Dein Deine`) {
		m[w] = true
	}
	return m
}()

func allUpper(w []byte) bool {
	if len(w) < 2 {
		return false
	}
	for _, c := range w {
		if c >= 'a' && c <= 'z' || c >= 0x80 {
			return false
		}
	}
	return true
}

// ---- birth dates ----

// birthFillers may stand between a birth cue and the date ("born on",
// "geboren am", "né le", "DOB is").
var birthFillers = map[string]bool{"on": true, "in": true, "is": true, "was": true, "am": true, "ist": true,
	"le": true, "el": true, "il": true, "op": true, "em": true, "de": true, "the": true, "date": true,
	"my": true, "of": true, "à": true, "a": true, "at": true}

func matchBirth(t []byte, j int, c cue) Finding {
	lim := min(len(t), j+30)
	var lb [32]byte
	for k := j; k < lim; k++ {
		if !(k == 0 || !isAlnum(t[k-1])) {
			continue
		}
		if charClass[t[k]]&cLetter != 0 || t[k] >= 0x80 {
			we := wordEnd(t, k)
			lw := lowerWord(lb[:0], t[k:we])
			if months[string(lw)] == 0 && !birthFillers[string(lw)] {
				return Finding{} // another word: the date is not the birth date
			}
		}
		if isDigit(t[k]) {
			if e := dateAt(t, k); e > 0 {
				return Finding{Class: ClassBirthdate, Rule: "dob.cue", Cue: c.name, Start: k, End: e, VStart: k, VEnd: e}
			}
		} else if charClass[t[k]]&cLetter != 0 || t[k] >= 0x80 {
			we := wordEnd(t, k)
			if months[string(lowerWord(lb[:0], t[k:we]))] > 0 {
				if e := monthFirstDate(t, we); e > 0 {
					return Finding{Class: ClassBirthdate, Rule: "dob.cue", Cue: c.name, Start: k, End: e, VStart: k, VEnd: e}
				}
			}
			k = we - 1
		}
	}
	return Finding{}
}

func yearOK(y int) bool { return y >= 1900 && y <= 2030 }

// dateAt matches a numeric date or "3 March 1985" at t[k:].
func dateAt(t []byte, k int) int {
	num := func(j, max int) (int, int) {
		v, n := 0, 0
		for j+n < len(t) && isDigit(t[j+n]) && n < max {
			v = v*10 + int(t[j+n]-'0')
			n++
		}
		return v, n
	}
	a, na := num(k, 4)
	if na == 0 {
		return 0
	}
	j := k + na
	if j < len(t) && (t[j] == '-' || t[j] == '.' || t[j] == '/') {
		sep := t[j]
		b, nb := num(j+1, 2)
		if nb == 0 || j+1+nb >= len(t) || t[j+1+nb] != sep {
			return 0
		}
		c, nc := num(j+2+nb, 4)
		end := j + 2 + nb + nc
		if end < len(t) && isDigit(t[end]) {
			return 0
		}
		switch {
		case na == 4 && yearOK(a) && b >= 1 && b <= 12 && c >= 1 && c <= 31 && nc <= 2:
			return end
		case na <= 2 && nc == 4 && yearOK(c) && (a <= 31 && b <= 12 || a <= 12 && b <= 31) && a > 0 && b > 0:
			return end
		case na <= 2 && nc == 2 && a > 0 && b > 0 && a <= 31 && b <= 31:
			return end // 03/05/85
		}
		return 0
	}
	// "3 March 1985", "3. März 1985", "3 de marzo de 1985"
	if na > 2 || a == 0 || a > 31 {
		return 0
	}
	if j < len(t) && t[j] == '.' {
		j++
	}
	j = skipSpace(t, j, false)
	we := wordEnd(t, j)
	var lb [32]byte
	w := lowerWord(lb[:0], t[j:we])
	if string(w) == "de" {
		j = skipSpace(t, we, false)
		we = wordEnd(t, j)
		w = lowerWord(lb[:0], t[j:we])
	}
	if months[string(w)] == 0 {
		return 0
	}
	j = skipSpace(t, we, true)
	if k2 := wordEnd(t, j); string(lowerWord(lb[:0], t[j:k2])) == "de" {
		j = skipSpace(t, k2, false)
	}
	y, ny := num(j, 4)
	if ny != 4 || !yearOK(y) {
		return 0
	}
	return j + 4
}

// monthFirstDate matches " 3, 1985" / " 3rd 1985" after a month name.
func monthFirstDate(t []byte, j int) int {
	j = skipSpace(t, j, false)
	d, n := 0, 0
	for j+n < len(t) && isDigit(t[j+n]) && n < 2 {
		d = d*10 + int(t[j+n]-'0')
		n++
	}
	if n == 0 || d == 0 || d > 31 {
		return 0
	}
	j += n
	for j < len(t) && charClass[t[j]]&cLetter != 0 && n < 4 { // st nd rd th
		j++
		n++
	}
	j = skipSpace(t, j, true)
	y := 0
	for n = 0; j+n < len(t) && isDigit(t[j+n]) && n < 4; n++ {
		y = y*10 + int(t[j+n]-'0')
	}
	if n != 4 || !yearOK(y) {
		return 0
	}
	return j + 4
}

// ---- street addresses ----

// houseNumber matches 1-5 digits with an optional letter ("221B", "12a")
// or range ("12-14") at t[j:].
func houseNumber(t []byte, j int) int {
	k := j
	for k < len(t) && isDigit(t[k]) && k-j < 5 {
		k++
	}
	if k == j || k < len(t) && isDigit(t[k]) {
		return 0
	}
	if k < len(t) && t[k] == '-' && k+1 < len(t) && isDigit(t[k+1]) {
		k++
		for k < len(t) && isDigit(t[k]) {
			k++
		}
	}
	if k < len(t) && charClass[t[k]]&cLetter != 0 && (k+1 >= len(t) || !isAlnum(t[k+1])) {
		k++
	}
	if k < len(t) && isAlnum(t[k]) {
		return 0
	}
	return k
}

func isYear(t []byte) bool {
	return len(t) == 4 && (t[0] == '1' && t[1] == '9' || t[0] == '2' && t[1] == '0')
}

// matchNumberStreet: "221B Baker Street", "1600 Pennsylvania Avenue NW",
// "12 rue de Rivoli", "3 avenue des Champs-Élysées".
func matchNumberStreet(t []byte, i int) Finding {
	k := houseNumber(t, i)
	if k == 0 || isYear(t[i:k]) {
		return Finding{}
	}
	j := k
	if j < len(t) && t[j] == ',' {
		j++
	}
	j = skipSpace(t, j, false)
	var lb [32]byte
	for words := 0; words < 5 && j < len(t); words++ {
		e := wordEnd(t, j)
		w := t[j:e]
		lw := lowerWord(lb[:0], w)
		if e < len(t) && t[e] == '.' {
			if cs, ok := cues[string(append(lw, '.'))]; ok && words > 0 && hasKind(cs, cueStreetPost) {
				return addrFinding(t, i, e+1, "address.street", string(cs[0].name))
			}
		}
		cs := cues[string(lw)]
		if words > 0 && hasKind(cs, cueStreetPost) && isUpperStart(w) {
			end := e
			if end < len(t) && t[end] == '.' {
				end++
			}
			return addrFinding(t, i, end, "address.street", cs[0].name)
		}
		if words == 0 && hasKind(cs, cueStreetPre) && !isUpperStart(w) || words == 0 && hasKind(cs, cueStreetPre) && e+1 < len(t) {
			// "12 rue de Rivoli": the street type leads, a name follows
			n := skipSpace(t, e, false)
			if n < len(t) && n > e {
				ne := streetName(t, n)
				if ne > n {
					return addrFinding(t, i, ne, "address.street", cs[0].name)
				}
			}
			return Finding{}
		}
		if len(w) == 0 || !(isUpperStart(w) || nameParticles[string(lw)]) || charClass[w[0]]&cDigit != 0 {
			return Finding{}
		}
		j = skipSpace(t, e, false)
		if j == e {
			return Finding{}
		}
	}
	return Finding{}
}

// streetName reads one to four words of a street name after a leading
// street type: particles and capitalized words; it returns the end or 0.
func streetName(t []byte, j int) int {
	end := 0
	var lb [32]byte
	for words := 0; words < 4 && j < len(t); words++ {
		e := wordEnd(t, j)
		w := t[j:e]
		switch {
		case isUpperStart(w):
			end = e
		case nameParticles[string(lowerWord(lb[:0], w))] || string(w) == "des" || string(w) == "d'":
		default:
			return end
		}
		if e >= len(t) || t[e] != ' ' {
			return end
		}
		j = e + 1
	}
	return end
}

func hasKind(cs []cue, k cueKind) bool {
	for _, c := range cs {
		if c.kind == k {
			return true
		}
	}
	return false
}

// matchStreetPre: "Via Roma 5", "Calle Mayor 3", "Rua Augusta 27, 2º" (the
// street type at t[i:], name words from t[j:], then a house number).
func matchStreetPre(t []byte, i, j int, c cue) Finding {
	if !isUpperStart(t[i:]) {
		return Finding{}
	}
	j = skipSpace(t, j, false)
	ne := streetName(t, j)
	if ne == 0 {
		return Finding{}
	}
	k := ne
	if k < len(t) && t[k] == ',' {
		k++
	}
	k = skipSpace(t, k, false)
	if k == ne && k < len(t) && t[k] != ',' {
		return Finding{}
	}
	he := houseNumber(t, k)
	if he == 0 || isYear(t[k:he]) {
		return Finding{}
	}
	return addrFinding(t, i, he, "address.street", c.name)
}

// matchCompoundStreet: "Hauptstraße 12", "Bahnhofstr. 5", "Keizersgracht
// 123" (lw is the lower-cased word t[i:e]).
func matchCompoundStreet(t []byte, i, e int, lw []byte) Finding {
	end := e
	if end < len(t) && t[end] == '.' {
		lw = append(lw, '.')
		end++
	}
	ok := false
	for _, s := range streetSuffixes {
		if bytes.HasSuffix(lw, []byte(s)) && len(lw) > len(s)+2 {
			ok = true
			break
		}
	}
	if !ok {
		return Finding{}
	}
	k := skipSpace(t, end, false)
	if k == end {
		return Finding{}
	}
	he := houseNumber(t, k)
	if he == 0 || isYear(t[k:he]) {
		return Finding{}
	}
	return addrFinding(t, i, he, "address.street", "street")
}

// addrFinding extends an address over ", [postcode] City" or ", City,
// ST 12345" that follows it.
func addrFinding(t []byte, s, e int, rule, cueName string) Finding {
	j := e
	for n := 0; n < 3; n++ {
		k := j
		if k < len(t) && t[k] == ',' {
			k++
		}
		k = skipSpace(t, k, false)
		if k == j || k >= len(t) {
			break
		}
		// postcode shapes: digits (4-5, optional -dddd), "SW1A 1AA", "1234 AB"
		if isDigit(t[k]) {
			m := k
			for m < len(t) && (isDigit(t[m]) || t[m] == '-') && m-k < 10 {
				m++
			}
			if m-k < 4 || m < len(t) && isAlnum(t[m]) {
				break
			}
			if m+3 < len(t) && t[m] == ' ' && charClass[t[m+1]]&cLetter != 0 && charClass[t[m+2]]&cLetter != 0 && (m+3 == len(t) || !isAlnum(t[m+3])) && allUpper(t[m+1:m+3]) {
				m += 3 // NL 1234 AB
			}
			j = m
			continue
		}
		we := wordEnd(t, k)
		w := t[k:we]
		if !isUpperStart(w) {
			break
		}
		if allUpper(w) && len(w) == 2 { // state code
			j = we
			continue
		}
		if allUpper(w) && len(w) <= 4 && we+1 < len(t) && t[we] == ' ' && isDigit(t[we+1]) { // UK postcode
			m := we + 1
			for m < len(t) && isAlnum(t[m]) && m-we <= 4 {
				m++
			}
			j = m
			continue
		}
		// a city: capitalized words (at most 3)
		ce := we
		for c := 0; c < 2 && ce+1 < len(t) && t[ce] == ' ' && isUpperStart(t[ce+1:]); c++ {
			ce = wordEnd(t, ce+1)
		}
		j = ce
	}
	return Finding{Class: ClassAddress, Rule: rule, Cue: cueName, Start: s, End: j, VStart: s, VEnd: j}
}

// mergeText drops text findings (dst[n1:]) that overlap identifier
// findings (dst[n0:n1]) or each other, and sorts dst[n0:] by Start.
func mergeText(dst []Finding, n0, n1 int) []Finding {
	out := n1
	for k := n1; k < len(dst); k++ {
		f := dst[k]
		clash := false
		for m := n0; m < out; m++ {
			if f.Start < dst[m].End && dst[m].Start < f.End {
				clash = true
				break
			}
		}
		if !clash {
			dst[out] = f
			out++
		}
	}
	dst = dst[:out]
	for a := n0 + 1; a < len(dst); a++ { // insertion sort: few findings
		for b := a; b > n0 && dst[b].Start < dst[b-1].Start; b-- {
			dst[b], dst[b-1] = dst[b-1], dst[b]
		}
	}
	return dst
}
