package audit

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/consentry/consentry/masking"
)

func TestAppendJSONIsValidAndHoldsNoValues(t *testing.T) {
	var st masking.Stats
	st.Fields = 3
	st.Actions[masking.ActionDrop] = 2
	st.Actions[masking.ActionKeep] = 1
	st.Classes.Add(masking.Intern("contact.email"), 2)
	st.Classes.Add(masking.Intern(""), 1)
	st.Rules.Add(masking.Intern(`gdpr."quoted"`), 3)
	r := &Record{Time: time.Unix(1700000000, 0), Tenant: "acme", Format: "clevertap.sdk", Route: "/a1", Status: 200,
		RecordsIn: 4, RecordsOut: 3, PolicyDropped: 1, Duration: 1500 * time.Microsecond, PolicyRevision: "abc", Stats: &st}
	line := AppendJSON(nil, r)
	var m map[string]any
	if err := json.Unmarshal(line, &m); err != nil {
		t.Fatalf("not JSON: %s", line)
	}
	if m["records_dropped"] != float64(1) || m["classes"].(map[string]any)["unclassified"] != float64(1) ||
		m["rules"].(map[string]any)[`gdpr."quoted"`] != float64(3) || m["duration_ms"] != 1.5 {
		t.Errorf("record %s", line)
	}
	if !bytes.HasSuffix(line, []byte("\n")) {
		t.Error("no newline")
	}
}

func TestLoggerFlushesOnClose(t *testing.T) {
	var buf bytes.Buffer
	l := New(&buf, time.Hour)
	l.Write(&Record{Tenant: "t"})
	if err := l.Close(); err != nil || !bytes.Contains(buf.Bytes(), []byte(`"tenant":"t"`)) {
		t.Fatalf("%v %q", err, buf.String())
	}
	var nilLogger *Logger
	nilLogger.Write(&Record{}) // discards
}
