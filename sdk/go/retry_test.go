package wrenn

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

func TestCreate_when503Twice_thenRetriesWithSameIdempotencyKey(t *testing.T) {
	var mu sync.Mutex
	var keys []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		n := len(keys)
		mu.Unlock()
		if n <= 2 {
			writeJSON(w, 503, `{"error":{"code":"agent_unavailable","message":"try again"}}`)
			return
		}
		writeJSON(w, 201, sandboxJSON)
	}))
	defer srv.Close()
	c, slept := testClient(t, srv)

	sbx, err := c.CreateSandbox(context.Background(), WithTemplate("base"))

	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if sbx.ID != "sbx1" || len(keys) != 3 || len(*slept) != 2 {
		t.Fatalf("id %q, %d tries, %d sleeps", sbx.ID, len(keys), len(*slept))
	}
	if keys[0] == "" || keys[0] != keys[1] || keys[1] != keys[2] {
		t.Fatalf("idempotency keys differ or are empty: %q", keys)
	}
}

func TestCreate_twoCalls_useDifferentIdempotencyKeys(t *testing.T) {
	var keys []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		writeJSON(w, 201, sandboxJSON)
	}))
	defer srv.Close()
	c, _ := testClient(t, srv)
	for i := 0; i < 2; i++ {
		if _, err := c.CreateSandbox(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if keys[0] == keys[1] {
		t.Fatalf("two creates shared key %q", keys[0])
	}
}

func TestRetry_when429WithRetryAfter_thenWaitsThatLong(t *testing.T) {
	tries := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tries++
		if tries == 1 {
			w.Header().Set("Retry-After", "7")
			writeJSON(w, 429, `{"error":{"code":"rate_limited","message":"slow down"}}`)
			return
		}
		writeJSON(w, 200, `{"templates":[]}`)
	}))
	defer srv.Close()
	c, slept := testClient(t, srv)

	_, err := c.Templates.List(context.Background())

	if err != nil {
		t.Fatal(err)
	}
	if len(*slept) != 1 || (*slept)[0] < 7*time.Second {
		t.Fatalf("slept %v, want one wait of at least 7s", *slept)
	}
}

func TestRetry_whenRetryAfterIsHTTPDate_thenParsed(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	got := parseRetryAfter(now.Add(30*time.Second).Format(http.TimeFormat), now)
	if got != 30*time.Second {
		t.Fatalf("got %v", got)
	}
	if parseRetryAfter("1.5", now) != 1500*time.Millisecond || parseRetryAfter("junk", now) != 0 {
		t.Fatal("seconds form misparsed")
	}
}

func TestRetry_whenAlways503_thenGivesUpAfterMaxRetries(t *testing.T) {
	tries := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tries++
		w.Header().Set("x-request-id", "req-9")
		writeJSON(w, 503, `{"error":{"code":"no_capacity","message":"full"}}`)
	}))
	defer srv.Close()
	c, _ := testClient(t, srv)

	_, err := c.GetSandbox(context.Background(), "sbx1")

	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.RequestID != "req-9" || !errors.Is(err, ErrSandbox) {
		t.Fatalf("err %#v", err)
	}
	if tries != 1+DefaultRetryPolicy.MaxRetries {
		t.Fatalf("%d tries", tries)
	}
}

func TestRetry_whenNonIdempotentPostGets503_thenNotRetried(t *testing.T) {
	tries := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tries++
		writeJSON(w, 503, `{"error":{"code":"agent_unavailable","message":"x"}}`)
	}))
	defer srv.Close()
	c, _ := testClient(t, srv)
	sbx, _ := c.newSandbox(mustInfo(t))

	err := sbx.Pause(context.Background())

	if !errors.Is(err, ErrSandbox) || tries != 1 {
		t.Fatalf("err %v after %d tries", err, tries)
	}
}

func TestRetry_whenConnectionDropped_thenIdempotentGetRetried(t *testing.T) {
	tries := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tries++
		if tries == 1 {
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
			return
		}
		writeJSON(w, 200, sandboxJSON)
	}))
	defer srv.Close()
	c, slept := testClient(t, srv)

	info, err := c.GetSandbox(context.Background(), "sbx1")

	if err != nil || info.ID != "sbx1" || tries != 2 || len(*slept) != 1 {
		t.Fatalf("err %v, tries %d, sleeps %v", err, tries, *slept)
	}
}

func TestRetry_whenNothingListens_thenPostRetriedAndFails(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	c, err := NewClient(WithAPIKey("k"), WithBaseURL("http://"+addr), withGetenv(func(string) string { return "" }))
	if err != nil {
		t.Fatal(err)
	}
	var sleeps int
	c.sleep = func(context.Context, time.Duration) error { sleeps++; return nil }

	_, err = c.Teams.Create(context.Background(), "x")

	if err == nil || sleeps != DefaultRetryPolicy.MaxRetries {
		t.Fatalf("err %v, %d sleeps", err, sleeps)
	}
}

func TestBackoff_staysWithinCap(t *testing.T) {
	p := RetryPolicy{MaxRetries: 5, BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second}
	for n := 0; n < 10; n++ {
		if d := p.backoff(n); d < 0 || d > time.Second {
			t.Fatalf("backoff(%d) = %v", n, d)
		}
	}
}

func TestRetry_whenNoRetryPolicy_thenOneTry(t *testing.T) {
	tries := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tries++
		writeJSON(w, 502, `{"sandboxId":"x","message":"bad gateway","code":502}`)
	}))
	defer srv.Close()
	c, _ := testClient(t, srv, WithRetry(NoRetry))
	_, err := c.GetSandbox(context.Background(), "x")
	if tries != 1 || !errors.Is(err, ErrSandbox) {
		t.Fatalf("%d tries, err %v", tries, err)
	}
}

func mustInfo(t *testing.T) *SandboxInfo {
	t.Helper()
	tok, dom := "tok123", "wrenn.test"
	return &SandboxInfo{ID: "sbx1", EnvdAccessToken: &tok, Domain: &dom}
}
