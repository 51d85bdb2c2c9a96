package formats

import (
	"strings"
	"testing"

	"github.com/consentry/consentry/masking"
)

func digits(n int) string { return strings.Repeat("7", n) }

var numberCases = []struct {
	name, js string
	ok       bool
}{
	{"small numbers", `{"a":0,"b":-1,"c":3.14,"d":1.4155550123e10,"e":-0.0,"f":1E+2,"g":[1,2,3]}`, true},
	{"float64 extremes", `{"a":1.7976931348623157e308,"b":-1.7976931348623157e308,"c":5e-324}`, true},
	{"zero with a huge exponent", `{"a":0e99999,"b":0.000e-400}`, true},
	{"64 significant digits", `{"a":` + digits(64) + `,"b":0.000` + digits(64) + `}`, true},
	{"digits in strings and keys", `{"` + digits(300) + `":"` + digits(300) + `1e400","b":"\"1e400"}`, true},
	{"overflow", `{"a":1e400}`, false},
	{"negative overflow", `{"a":[-1.8e308]}`, false},
	{"underflow of a non-zero number", `{"a":{"b":1e-400}}`, false},
	{"65 significant digits", `{"a":` + digits(65) + `}`, false},
	{"300-digit integer", `{"a":` + digits(300) + `}`, false},
	{"long fraction", `{"a":1.` + digits(70) + `}`, false},
	{"trailing zeros count", `{"a":1` + strings.Repeat("0", 64) + `}`, false},
	{"after an escaped quote", `{"a":"x\"","b":1e999}`, false},
	{"25-byte integer", `{"a":` + digits(25) + `}`, true},
	{"24-byte fraction", `{"a":-0.` + digits(22) + `}`, true},
	{"overflow under a key holding an email", `{"jane@example.com":1e400}`, false},
	{"exponent under a key holding an email", `{"jane@example.com":[1e5]}`, true},
	{"overflow under a key over budget", `{"` + digits(300) + `":{"x":1e400}}`, false},
}

func TestCheckNumbers(t *testing.T) {
	for _, tc := range numberCases {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckNumbers([]byte(tc.js))
			if tc.ok != (err == nil) {
				t.Fatalf("CheckNumbers = %v, want ok %v", err, tc.ok)
			}
			if err != nil {
				if fe := AsError(err); fe.Status != 400 || fe.Code != "invalid_number" || strings.Contains(fe.Msg, "7777") {
					t.Errorf("error %d %s %q", fe.Status, fe.Code, fe.Msg)
				}
			}
		})
	}
}

// TestCheckParsedNumbers: the check that reuses the parse's measurements
// decides exactly as the full scan.
func TestCheckParsedNumbers(t *testing.T) {
	rw := masking.NewRewriter()
	for _, tc := range numberCases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := rw.Parse([]byte(tc.js), 0); err != nil {
				t.Fatal(err)
			}
			err := checkParsedNumbers(rw)
			if tc.ok != (err == nil) {
				t.Fatalf("checkParsedNumbers = %v, want ok %v", err, tc.ok)
			}
			if err != nil && AsError(err).Code != "invalid_number" {
				t.Errorf("error %v", err)
			}
		})
	}
}

func TestCheckNumbersAllocs(t *testing.T) {
	js := []byte(`{"a":1.4155550123e10,"b":"x","c":[1,2.5,-3e-5],"d":123456789012345678901234567890}`)
	if n := testing.AllocsPerRun(100, func() { _ = CheckNumbers(js) }); n != 0 {
		t.Errorf("%v allocations per call, want 0", n)
	}
}
