package clevertap

import "testing"

func TestSDKAccount(t *testing.T) {
	for _, tc := range []struct{ name, body, want string }{
		{"header first", `[{"type":"meta","g":"__g","id":"ACC","af":{"Make":"x"}},{"type":"event"}]`, "ACC"},
		{"id before type", `[{"id":"ACC","af":{},"type":"meta"}]`, "ACC"},
		{"duplicate id: the first", `[{"type":"meta","id":"ACC","id":"OTHER"}]`, "ACC"},
		{"escaped id", `[{"type":"meta","id":"A\u0043C"}]`, "ACC"},
		{"not meta", `[{"type":"event","id":"ACC"}]`, ""},
		{"no id", `[{"type":"meta","g":"__g"}]`, ""},
		{"empty id", `[{"type":"meta","id":""}]`, ""},
		{"numeric id", `[{"type":"meta","id":12}]`, ""},
		{"header not an object", `[["type","meta"],{"type":"meta","id":"ACC"}]`, ""},
		{"header in element 1", `[{"type":"event"},{"type":"meta","id":"ACC"}]`, ""},
		{"object, not a batch", `{"0":{"type":"meta","id":"ACC"}}`, "ACC"},
		{"empty", ``, ""},
		{"truncated", `[{"type":"meta","id":"AC`, ""},
	} {
		if got := string(SDKAccount([]byte(tc.body))); got != tc.want {
			t.Errorf("%s: SDKAccount = %q, want %q", tc.name, got, tc.want)
		}
	}
}
