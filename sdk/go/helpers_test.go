package wrenn

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// testClient is a client of srv with a fixed key, no environment and a
// recorded (not slept) backoff.
func testClient(t *testing.T, srv *httptest.Server, opts ...Option) (*Client, *[]time.Duration) {
	t.Helper()
	base := []Option{WithAPIKey("wrn_test"), WithBaseURL(srv.URL), withGetenv(func(string) string { return "" })}
	c, err := NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	slept := &[]time.Duration{}
	c.sleep = func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		defer mu.Unlock()
		*slept = append(*slept, d)
		return ctx.Err()
	}
	return c, slept
}

// withGetenv replaces the process environment for config resolution.
func withGetenv(f func(string) string) Option { return func(o *clientOptions) { o.getenv = f } }

// sandboxJSON is a minimal create answer.
const sandboxJSON = `{"id":"sbx1","team_id":"t","template":"base","state":"running","reason":"","vcpus":1,
"memory_mb":512,"metadata":{},"created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z",
"timeout_secs":300,"on_timeout":"kill","from_snapshot":false,"auto_resume":false,"public_traffic":true,
"internet":true,"egress_allow":[],"egress_deny":[],"domain":"wrenn.test","envd_access_token":"tok123"}`

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}
