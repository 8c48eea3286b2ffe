package wrenn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestPools_get_withoutPlan_hasNilPlanAndSize(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "GET" || r.URL.Path != "/v1/pool" {
			t.Errorf("got %s %s", r.Method, r.URL.Path)
		}
		writeJSON(w, 200, `{"team_id":"t1","plan":null,"size":null,"used":{"vcpus":2,"memory_mib":1024,
"storage_mib":2048,"running":2,"paused":0},"over":false,"updated_at":"2026-12-01T19:00:00Z"}`)
	}))
	defer srv.Close()
	c, _ := testClient(t, srv)
	p, err := c.Pools.Get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if p.Plan != nil || p.Size != nil || p.Over || p.Used.Running != 2 || p.Used.MemoryMiB != 1024 || p.TeamID != "t1" {
		t.Fatalf("pool %+v", p)
	}
}

func TestPools_get_withPlan_readsPlanSizeAndOver(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, `{"team_id":"t1","plan":{"name":"tiny","vcpus":1,"memory_gib":1,"storage_gib":10,
"max_running":1,"max_paused":2,"price_cents":500,"period":"month","overflow":"refuse","burst_vcpus":0,
"burst_cents_per_vcpu_hour":0},"size":{"vcpus":1,"memory_mib":1024,"storage_mib":10240,"running":1,"paused":2},
"used":{"vcpus":3,"memory_mib":1536,"storage_mib":3072,"running":3,"paused":0},"over":true,"updated_at":null}`)
	}))
	defer srv.Close()
	c, _ := testClient(t, srv)
	p, err := c.Pools.Get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if p.Plan == nil || p.Plan.Name != "tiny" || p.Plan.PriceCents != 500 || p.Size == nil || p.Size.Running != 1 ||
		!p.Over || p.UpdatedAt != nil {
		t.Fatalf("pool %+v plan %+v size %+v", p, p.Plan, p.Size)
	}
}

func TestPools_usage_sendsGroupingAndRange(t *testing.T) {
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	end := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if r.URL.Path != "/v1/usage" || q.Get("by") != "sandbox" || q.Get("start") != "2026-11-01T00:00:00Z" ||
			q.Get("end") != "2026-12-01T00:00:00Z" || q.Get("format") != "json" {
			t.Errorf("got %s", r.URL)
		}
		writeJSON(w, 200, `{"by":"sandbox","start":"2026-11-01T00:00:00Z","end":"2026-12-01T00:00:00Z","entries":[
{"key":"sbx1","template":"base","running_seconds":12.5,"paused_seconds":3,"vcpu_seconds":25,
"memory_gib_seconds":6.25,"storage_gib_hours":0.001}]}`)
	}))
	defer srv.Close()
	c, _ := testClient(t, srv)
	u, err := c.Pools.Usage(context.Background(), UsageParams{By: UsageBySandbox, Start: start, End: end})
	if err != nil {
		t.Fatal(err)
	}
	if u.By != UsageBySandbox || !u.Start.Equal(start) || len(u.Entries) != 1 {
		t.Fatalf("usage %+v", u)
	}
	e := u.Entries[0]
	if e.Key != "sbx1" || e.Template != "base" || e.RunningSeconds != 12.5 || e.VCPUSeconds != 25 {
		t.Fatalf("entry %+v", e)
	}
}

func TestPools_usage_defaults_sendNoRange(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Has("by") || q.Has("start") || q.Has("end") {
			t.Errorf("got %s", r.URL)
		}
		writeJSON(w, 200, `{"by":"day","start":"2026-11-01T00:00:00Z","end":"2026-12-01T00:00:00Z","entries":[]}`)
	}))
	defer srv.Close()
	c, _ := testClient(t, srv)
	u, err := c.Pools.Usage(context.Background(), UsageParams{})
	if err != nil || u.By != UsageByDay || len(u.Entries) != 0 {
		t.Fatalf("usage %+v err %v", u, err)
	}
}

func TestPools_usage_422_isValidationError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 422, `{"error":{"code":"validation_failed","message":"the range is at most 400 days"}}`)
	}))
	defer srv.Close()
	c, _ := testClient(t, srv)
	_, err := c.Pools.Usage(context.Background(), UsageParams{By: UsageByHour})
	var apiErr *APIError
	if !errors.Is(err, ErrValidation) || !errors.As(err, &apiErr) || apiErr.Message != "the range is at most 400 days" {
		t.Fatalf("err %v", err)
	}
}

const intervalLine = `{"sandbox_id":"sbx%d","template":"base","host_id":"h1","phase":"running","vcpus":1,` +
	`"memory_mib":512,"storage_mib":1024,"started_at":"2026-12-01T19:00:00Z","ended_at":%s}` + "\n"

func TestPools_exportUsage_streamsLinesAsTheyArrive(t *testing.T) {
	const n = 5
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if r.URL.Path != "/v1/usage/export" || q.Get("format") != "json" || q.Has("by") {
			t.Errorf("got %s", r.URL)
		}
		w.Header().Set("Content-Type", "application/x-ndjson")
		for i := range n {
			ended := `"2026-12-01T19:01:00Z"`
			if i == n-1 {
				ended = "null"
			}
			fmt.Fprintf(w, intervalLine, i, ended)
			w.(http.Flusher).Flush()
			if i == 0 {
				<-release // the client must see line 0 before the rest is sent
			}
		}
	}))
	defer srv.Close()
	c, _ := testClient(t, srv)
	var got []*UsageInterval
	for iv, err := range c.Pools.ExportUsage(context.Background(), time.Time{}, time.Time{}) {
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 {
			close(release)
		}
		got = append(got, iv)
	}
	if len(got) != n || got[0].SandboxID != "sbx0" || got[0].EndedAt == nil || got[n-1].EndedAt != nil ||
		got[0].HostID == nil || *got[0].HostID != "h1" || got[0].MemoryMiB != 512 {
		t.Fatalf("got %d intervals, first %+v", len(got), got[0])
	}
}

func TestPools_exportUsage_breakClosesTheStream(t *testing.T) {
	closed := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(closed)
		for i := 0; ; i++ {
			if _, err := fmt.Fprintf(w, intervalLine, i, "null"); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			default:
			}
		}
	}))
	defer srv.Close()
	c, _ := testClient(t, srv)
	seen := 0
	for _, err := range c.Pools.ExportUsage(context.Background(), time.Time{}, time.Time{}) {
		if err != nil {
			t.Fatal(err)
		}
		if seen++; seen == 3 {
			break
		}
	}
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the server kept streaming after the loop stopped")
	}
}

func TestPools_exportUsage_cutShort_yieldsError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, intervalLine, 0, "null")
		_, _ = io.WriteString(w, `{"sandbox_id":"sbx1","tem`)
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // drop the connection mid-line
	}))
	defer srv.Close()
	c, _ := testClient(t, srv)
	var n int
	var last error
	for iv, err := range c.Pools.ExportUsage(context.Background(), time.Time{}, time.Time{}) {
		if err != nil {
			last = err
			continue
		}
		if iv.SandboxID != "sbx0" {
			t.Fatalf("interval %+v", iv)
		}
		n++
	}
	if n != 1 || !errors.Is(last, io.ErrUnexpectedEOF) {
		t.Fatalf("n=%d last=%v", n, last)
	}
}

func TestPools_exportUsage_errorAnswer_isTheOnlyPair(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 401, `{"error":{"code":"unauthenticated","message":"bad key"}}`)
	}))
	defer srv.Close()
	c, _ := testClient(t, srv)
	pairs := 0
	for iv, err := range c.Pools.ExportUsage(context.Background(), time.Time{}, time.Time{}) {
		pairs++
		if iv != nil || !errors.Is(err, ErrAuthentication) {
			t.Fatalf("iv %v err %v", iv, err)
		}
	}
	if pairs != 1 {
		t.Fatalf("%d pairs", pairs)
	}
}

func TestPools_invoice_readsCents(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/usage/invoice" || r.URL.Query().Get("start") != "2026-11-01T00:00:00Z" || r.URL.Query().Has("end") {
			t.Errorf("got %s", r.URL)
		}
		writeJSON(w, 200, `{"plan":"burst","period":"month","start":"2026-11-01T00:00:00Z","end":"2026-12-01T00:00:00Z",
"price_cents":1000,"burst_vcpu_hours":2.5,"burst_cents_per_vcpu_hour":4,"burst_cents":10,"total_cents":1010}`)
	}))
	defer srv.Close()
	c, _ := testClient(t, srv)
	inv, err := c.Pools.Invoice(context.Background(), time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if inv.Plan == nil || *inv.Plan != "burst" || inv.TotalCents != 1010 || inv.BurstVCPUHours != 2.5 {
		t.Fatalf("invoice %+v", inv)
	}
}

func TestPools_invoice_withoutPlan_hasNilPlan(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, `{"plan":null,"period":"month","start":"2026-11-01T00:00:00Z","end":"2026-12-01T00:00:00Z",
"price_cents":0,"burst_vcpu_hours":0,"burst_cents_per_vcpu_hour":0,"burst_cents":0,"total_cents":0}`)
	}))
	defer srv.Close()
	c, _ := testClient(t, srv)
	inv, err := c.Pools.Invoice(context.Background(), time.Time{}, time.Time{})
	if err != nil || inv.Plan != nil || inv.TotalCents != 0 {
		t.Fatalf("invoice %+v err %v", inv, err)
	}
}

const poolRefusal = `the team's pool is exhausted: running sandboxes: 1 in use of 1, 1 asked (plan 'tiny')`

func TestCreate_when429PoolExhausted_thenPoolErrorWithMessageAndNoRetry(t *testing.T) {
	var tries atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tries.Add(1)
		w.Header().Set("x-request-id", "req-pool")
		writeJSON(w, 429, `{"error":{"code":"pool_exhausted","message":"`+poolRefusal+`"}}`)
	}))
	defer srv.Close()
	c, slept := testClient(t, srv)
	_, err := c.CreateSandbox(context.Background(), WithTemplate("base"))
	var apiErr *APIError
	if !errors.Is(err, ErrPoolExhausted) || errors.Is(err, ErrRateLimited) || !errors.As(err, &apiErr) {
		t.Fatalf("err %v", err)
	}
	if apiErr.Status != 429 || apiErr.Code != "pool_exhausted" || apiErr.Message != poolRefusal ||
		apiErr.RequestID != "req-pool" || !strings.Contains(err.Error(), "running sandboxes: 1 in use of 1") {
		t.Fatalf("api error %+v", apiErr)
	}
	if tries.Load() != 1 || len(*slept) != 0 {
		t.Fatalf("%d tries, slept %v: a pool refusal is not retried", tries.Load(), *slept)
	}
}

func TestPools_exportUsage_when503_thenRetriedAndStreamed(t *testing.T) {
	var tries atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tries.Add(1) == 1 {
			writeJSON(w, 503, `{"error":{"code":"unavailable","message":"starting"}}`)
			return
		}
		fmt.Fprintf(w, intervalLine, 0, "null")
	}))
	defer srv.Close()
	c, slept := testClient(t, srv)
	n := 0
	for _, err := range c.Pools.ExportUsage(context.Background(), time.Time{}, time.Time{}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 1 || tries.Load() != 2 || len(*slept) != 1 {
		t.Fatalf("n=%d tries=%d slept=%v", n, tries.Load(), *slept)
	}
}

func TestPools_exportUsage_outlivesTheRequestTimeout(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, intervalLine, 0, "null")
		w.(http.Flusher).Flush()
		time.Sleep(300 * time.Millisecond) // longer than the per-try timeout
		fmt.Fprintf(w, intervalLine, 1, "null")
	}))
	defer srv.Close()
	c, _ := testClient(t, srv, WithRequestTimeout(50*time.Millisecond))
	n := 0
	for _, err := range c.Pools.ExportUsage(context.Background(), time.Time{}, time.Time{}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 2 {
		t.Fatalf("%d intervals", n)
	}
}
