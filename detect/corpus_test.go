package detect

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// corpusOptions is the tenant the corpus is scored for: default region US
// and a European locale list.
var corpusOptions = MustOptions([]string{"US", "GB", "DE", "FR", "ES", "IT", "NL"}, []string{"en", "de", "fr", "es", "it", "nl", "pt"}, nil, true)

// Targets: identifiers P and R >= 0.99; names, addresses and birth dates R
// >= 0.90 at P >= 0.99.
var textClasses = map[string]bool{ClassName: true, ClassAddress: true, ClassBirthdate: true}

type score struct{ tp, fp, fn int }

func (s score) precision() float64 {
	if s.tp+s.fp == 0 {
		return 1
	}
	return float64(s.tp) / float64(s.tp+s.fp)
}

func (s score) recall() float64 {
	if s.tp+s.fn == 0 {
		return 1
	}
	return float64(s.tp) / float64(s.tp+s.fn)
}

func loadCorpus(t testing.TB) []item {
	f, err := os.Open("testdata/corpus.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var items []item
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var it item
		if err := json.Unmarshal(sc.Bytes(), &it); err != nil {
			t.Fatal(err)
		}
		items = append(items, it)
	}
	return items
}

// leaves returns the texts the engine scans in an item: the text itself,
// or every string and number leaf of a JSON document.
func leaves(it item) []string {
	if it.Kind != "json" {
		return []string{it.Text}
	}
	var v any
	d := json.NewDecoder(strings.NewReader(it.Text))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		panic(err)
	}
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		case string:
			out = append(out, x)
		case json.Number:
			out = append(out, x.String())
		}
	}
	walk(v)
	slices.Sort(out)
	return out
}

// TestCorpus scores the detectors on the labelled corpus, per class, and
// fails below the targets. A finding counts as true when it overlaps a
// labelled span of its class.
func TestCorpus(t *testing.T) {
	items := loadCorpus(t)
	if len(items) < 3000 {
		t.Fatalf("corpus has %d items, want >= 3000", len(items))
	}
	scores := map[string]*score{}
	for _, c := range Classes {
		scores[c] = &score{}
	}
	var sc Scanner
	var fails []string
	for _, it := range items {
		for _, text := range leaves(it) {
			finds, _ := sc.Find(nil, []byte(text), corpusOptions)
			type gold struct {
				class      string
				start, end int
				hit        bool
			}
			var golds []gold
			for _, s := range it.Spans {
				if k := strings.Index(text, s.Text); k >= 0 {
					golds = append(golds, gold{s.Class, k, k + len(s.Text), false})
				}
			}
			for _, f := range finds {
				ok := false
				for g := range golds {
					if golds[g].class == f.Class && f.Start < golds[g].end && golds[g].start < f.End {
						golds[g].hit, ok = true, true
					}
				}
				if ok {
					scores[f.Class].tp++
				} else {
					scores[f.Class].fp++
					fails = append(fails, fmt.Sprintf("FP %s %s %q in %q (%s)", f.Class, it.Family, text[f.Start:f.End], text, f.Rule))
				}
			}
			for _, g := range golds {
				if !g.hit {
					scores[g.class].fn++
					fails = append(fails, fmt.Sprintf("FN %s %s %q in %q", g.class, it.Family, text[g.start:g.end], text))
				}
			}
		}
	}
	// merged: a span hit twice counts once as tp above only if two findings overlap it.
	var b strings.Builder
	fmt.Fprintf(&b, "%d items\n| class | TP | FP | FN | precision | recall |\n| --- | ---: | ---: | ---: | ---: | ---: |\n", len(items))
	for _, c := range Classes {
		s := scores[c]
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %s | %s |\n", c, s.tp, s.fp, s.fn, f3(s.precision()), f3(s.recall()))
	}
	t.Log("\n" + b.String())
	if len(fails) > 0 {
		max := min(len(fails), 80)
		t.Logf("first %d of %d errors:\n%s", max, len(fails), strings.Join(fails[:max], "\n"))
	}
	for _, c := range Classes {
		s := scores[c]
		minR := 0.99
		if textClasses[c] {
			minR = 0.90
		}
		if s.precision() < 0.99 || s.recall() < minR {
			t.Errorf("%s: precision %s recall %s, want >= 0.99 and >= %.2f", c, f3(s.precision()), f3(s.recall()), minR)
		}
	}
}

func f3(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }
