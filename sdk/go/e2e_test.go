//go:build e2e

// The live scenario against a real Wrenn (scripts/e2e.sh runs it with the
// environment tests/sdk/run.sh gives: WRENN_BASE_URL, WRENN_API_KEY,
// WRENN_ADMIN_TOKEN, WRENN_DOMAIN, WRENN_TEST_CA).
package wrenn_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	wrenn "github.com/wrenn-dev/wrenn/sdk/go"
)

func newClient(t *testing.T, opts ...wrenn.Option) *wrenn.Client {
	t.Helper()
	c, err := wrenn.NewClient(opts...)
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	return c
}

func TestE2E(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	client := newClient(t)
	tag := "go-e2e-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	var (
		sbx      *wrenn.Sandbox
		killList []*wrenn.Sandbox
		mu       sync.Mutex
	)
	keep := func(s *wrenn.Sandbox) {
		mu.Lock()
		killList = append(killList, s)
		mu.Unlock()
	}
	defer func() {
		for _, s := range killList {
			if err := s.Kill(context.Background()); err != nil {
				t.Errorf("cleanup kill %s: %v", s.ID, err)
			}
		}
	}()

	step := func(name string, f func(t *testing.T)) {
		if sbx == nil && name != "create" {
			t.Run(name, func(t *testing.T) { t.Fatal("no sandbox (create failed)") })
			return
		}
		t.Run(name, f)
	}

	step("create", func(t *testing.T) {
		start := time.Now()
		s, err := client.CreateSandbox(ctx, wrenn.WithTemplate("base"), wrenn.WithTimeout(10*time.Minute),
			wrenn.WithMetadata(map[string]string{"suite": tag}), wrenn.WithEnvVars(map[string]string{"WRENN_E2E": "yes"}))
		if err != nil {
			t.Fatal(err)
		}
		sbx = s
		keep(s)
		t.Logf("created %s in %v", s.ID, time.Since(start))
		if s.Info.State != wrenn.StateRunning {
			t.Fatalf("state %s", s.Info.State)
		}
	})

	step("run", func(t *testing.T) {
		res, err := sbx.Commands.Run(ctx, "echo hi; echo err >&2; echo $WRENN_E2E")
		if err != nil {
			t.Fatal(err)
		}
		if res.Stdout != "hi\nyes\n" || res.Stderr != "err\n" || res.ExitCode != 0 {
			t.Fatalf("%+v", res)
		}
		res, err = sbx.Commands.Run(ctx, "pwd; whoami", wrenn.WithCwd("/tmp"), wrenn.WithUser("root"))
		if err != nil || res.Stdout != "/tmp\nroot\n" {
			t.Fatalf("cwd/user: %+v %v", res, err)
		}
	})

	step("run non-zero exit", func(t *testing.T) {
		_, err := sbx.Commands.Run(ctx, "echo out; exit 3")
		var ce *wrenn.CommandExitError
		if !errors.As(err, &ce) || !errors.Is(err, wrenn.ErrCommandExit) || ce.Result.ExitCode != 3 || ce.Result.Stdout != "out\n" {
			t.Fatalf("%v", err)
		}
	})

	step("stream", func(t *testing.T) {
		var mu sync.Mutex
		var chunks []string
		res, err := sbx.Commands.Run(ctx, "for i in 1 2 3; do echo line $i; sleep 0.3; done",
			wrenn.OnStdout(func(b []byte) { mu.Lock(); chunks = append(chunks, string(b)); mu.Unlock() }))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(chunks, "") != "line 1\nline 2\nline 3\n" || res.Stdout != "line 1\nline 2\nline 3\n" || len(chunks) < 2 {
			t.Fatalf("chunks %q", chunks)
		}
	})

	step("background and reconnect by pid", func(t *testing.T) {
		h, err := sbx.Commands.Start(ctx, "read line; echo got $line; sleep 0.5; echo bye", wrenn.WithStdin())
		if err != nil {
			t.Fatal(err)
		}
		pid := h.PID
		h.Disconnect()
		procs, err := sbx.Commands.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, p := range procs {
			found = found || p.PID == pid
		}
		if !found {
			t.Fatalf("pid %d not in %+v", pid, procs)
		}
		// A later program: a fresh client and handle attach by pid.
		later, err := newClient(t).ConnectSandbox(ctx, sbx.ID)
		if err != nil {
			t.Fatal(err)
		}
		again, err := later.Commands.Connect(ctx, pid)
		if err != nil {
			t.Fatal(err)
		}
		if err := again.SendStdin(ctx, []byte("hello\n")); err != nil {
			t.Fatal(err)
		}
		res, err := again.Wait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(res.Stdout, "got hello") || !strings.Contains(res.Stdout, "bye") {
			t.Fatalf("%+v", res)
		}
		k, err := sbx.Commands.Start(ctx, "sleep 600")
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := k.Kill(ctx); !ok || err != nil {
			t.Fatalf("kill: %v %v", ok, err)
		}
		if res, err := k.Wait(ctx); err == nil {
			t.Fatalf("killed command ended cleanly: %+v", res)
		}
	})

	step("files", func(t *testing.T) {
		if _, err := sbx.Files.WriteString(ctx, "/tmp/e2e/a.txt", "alpha"); err != nil {
			t.Fatal(err)
		}
		if got, err := sbx.Files.ReadText(ctx, "/tmp/e2e/a.txt"); err != nil || got != "alpha" {
			t.Fatalf("read %q %v", got, err)
		}
		infos, err := sbx.Files.WriteMany(ctx, []wrenn.WriteEntry{
			{Path: "/tmp/e2e/b.txt", Data: strings.NewReader("bravo")},
			{Path: "/tmp/e2e/sub/c.txt", Data: strings.NewReader("charlie")},
		})
		if err != nil || len(infos) != 2 {
			t.Fatalf("write many: %+v %v", infos, err)
		}
		entries, err := sbx.Files.List(ctx, "/tmp/e2e")
		if err != nil || len(entries) != 3 {
			t.Fatalf("list: %+v %v", entries, err)
		}
		info, err := sbx.Files.GetInfo(ctx, "/tmp/e2e/b.txt")
		if err != nil || info.Size != 5 || info.Type != wrenn.FileTypeFile {
			t.Fatalf("info %+v %v", info, err)
		}
		if ok, err := sbx.Files.MakeDir(ctx, "/tmp/e2e/newdir"); !ok || err != nil {
			t.Fatalf("mkdir %v %v", ok, err)
		}
		if ok, err := sbx.Files.MakeDir(ctx, "/tmp/e2e/newdir"); ok || err != nil {
			t.Fatalf("mkdir again %v %v", ok, err)
		}
		if _, err := sbx.Files.Rename(ctx, "/tmp/e2e/a.txt", "/tmp/e2e/z.txt"); err != nil {
			t.Fatal(err)
		}
		if ok, _ := sbx.Files.Exists(ctx, "/tmp/e2e/a.txt"); ok {
			t.Fatal("renamed file still there")
		}
		if err := sbx.Files.Remove(ctx, "/tmp/e2e/z.txt"); err != nil {
			t.Fatal(err)
		}
		if ok, err := sbx.Files.Exists(ctx, "/tmp/e2e/z.txt"); ok || err != nil {
			t.Fatalf("removed file: %v %v", ok, err)
		}
		_, err = sbx.Files.Read(ctx, "/tmp/e2e/missing")
		if !errors.Is(err, wrenn.ErrNotFound) {
			t.Fatalf("missing file: %v", err)
		}
		// As root, a root-only place; as user, refused.
		if _, err := sbx.Files.WriteString(ctx, "/root/x", "r", wrenn.AsUser("root")); err != nil {
			t.Fatal(err)
		}
		if _, err := sbx.Files.ReadText(ctx, "/root/x"); !errors.Is(err, wrenn.ErrPermission) {
			t.Fatalf("user reading /root/x: %v", err)
		}
	})

	step("watch", func(t *testing.T) {
		if _, err := sbx.Files.MakeDir(ctx, "/tmp/watched"); err != nil {
			t.Fatal(err)
		}
		events := make(chan wrenn.FilesystemEvent, 64)
		w, err := sbx.Files.WatchDir(ctx, "/tmp/watched", func(e wrenn.FilesystemEvent) { events <- e })
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		if _, err := sbx.Files.WriteString(ctx, "/tmp/watched/new.txt", "n"); err != nil {
			t.Fatal(err)
		}
		deadline := time.After(20 * time.Second)
		for {
			select {
			case e := <-events:
				if e.Name == "new.txt" && e.Type == wrenn.EventCreate {
					return
				}
			case <-deadline:
				t.Fatal("no create event for new.txt")
			}
		}
	})

	step("100 MiB round trip with flat memory", func(t *testing.T) {
		const size = 100 << 20
		runtime.GC()
		resetPeakRSS(t)
		base := rssKiB(t, "VmRSS")
		up := sha256.New()
		start := time.Now()
		if _, err := sbx.Files.Write(ctx, "/tmp/big.bin", io.TeeReader(newPattern(size), up)); err != nil {
			t.Fatal(err)
		}
		upTime := time.Since(start)
		out, err := os.Create(filepath.Join(t.TempDir(), "big.bin"))
		if err != nil {
			t.Fatal(err)
		}
		defer out.Close()
		down := sha256.New()
		start = time.Now()
		n, err := sbx.Files.ReadTo(ctx, "/tmp/big.bin", io.MultiWriter(out, down))
		if err != nil || n != size {
			t.Fatalf("read %d %v", n, err)
		}
		downTime := time.Since(start)
		if fmt.Sprintf("%x", up.Sum(nil)) != fmt.Sprintf("%x", down.Sum(nil)) {
			t.Fatal("downloaded bytes differ")
		}
		growth := rssKiB(t, "VmHWM") - base
		t.Logf("100 MiB: upload %v, download %v, peak RSS growth %d KiB", upTime, downTime, growth)
		fmt.Printf("FIGURE go big_file upload_ms=%d download_ms=%d rss_growth_kib=%d\n", upTime.Milliseconds(), downTime.Milliseconds(), growth)
		if growth > 30<<10 {
			t.Fatalf("client peak RSS grew by %d KiB for a 100 MiB round trip", growth)
		}
		res, err := sbx.Commands.Run(ctx, "stat -c %s /tmp/big.bin && rm /tmp/big.bin")
		if err != nil || strings.TrimSpace(res.Stdout) != strconv.Itoa(size) {
			t.Fatalf("size in guest: %+v %v", res, err)
		}
	})

	step("pty", func(t *testing.T) {
		var mu sync.Mutex
		var out strings.Builder
		h, err := sbx.Pty.Create(ctx, wrenn.PtySize{Cols: 80, Rows: 24},
			wrenn.OnPtyData(func(b []byte) { mu.Lock(); out.Write(b); mu.Unlock() }))
		if err != nil {
			t.Fatal(err)
		}
		if err := sbx.Pty.Resize(ctx, h.PID, wrenn.PtySize{Cols: 120, Rows: 40}); err != nil {
			t.Fatal(err)
		}
		if err := sbx.Pty.SendInput(ctx, h.PID, []byte("stty size; echo pty-$((40+2))\n")); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			mu.Lock()
			s := out.String()
			mu.Unlock()
			if strings.Contains(s, "pty-42") && strings.Contains(s, "40 120") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("pty output %q", s)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if ok, err := sbx.Pty.Kill(ctx, h.PID); !ok || err != nil {
			t.Fatalf("kill: %v %v", ok, err)
		}
		_, _ = h.Wait(ctx)
	})

	step("get_host over https", func(t *testing.T) {
		if os.Getenv("WRENN_DOMAIN") == "" {
			t.Skip("WRENN_DOMAIN unset")
		}
		if _, err := sbx.Files.WriteString(ctx, "/tmp/www/marker.txt", "served"); err != nil {
			t.Fatal(err)
		}
		if _, err := sbx.Commands.Start(ctx, "cd /tmp/www && exec python3 -m http.server 8000"); err != nil {
			t.Fatal(err)
		}
		u, err := sbx.URL(8000)
		if err != nil {
			t.Fatal(err)
		}
		hc := httpsClient(t)
		var body string
		for i := 0; i < 50; i++ {
			resp, err := hc.Get(u + "/marker.txt")
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					body = string(b)
					break
				}
			}
			time.Sleep(200 * time.Millisecond)
		}
		if body != "served" {
			t.Fatalf("GET %s/marker.txt: %q", u, body)
		}
		// A signed download URL needs no other credential.
		d, err := sbx.Files.DownloadURL("/tmp/www/marker.txt", wrenn.SignedExpiresIn(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := hc.Get(d)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "served" {
			t.Fatalf("signed URL: %d %q", resp.StatusCode, b)
		}
	})

	step("metrics", func(t *testing.T) {
		m, err := sbx.Metrics(ctx)
		if err != nil || m.CPUCount < 1 || m.MemTotalMB < 1 {
			t.Fatalf("%+v %v", m, err)
		}
	})

	step("pause and connect", func(t *testing.T) {
		if _, err := sbx.Files.WriteString(ctx, "/home/user/keep.txt", "kept"); err != nil {
			t.Fatal(err)
		}
		if err := sbx.Pause(ctx); err != nil {
			t.Fatal(err)
		}
		info, err := sbx.GetInfo(ctx)
		if err != nil || info.State != wrenn.StatePaused {
			t.Fatalf("after pause: %v %v", info.State, err)
		}
		resumed, err := client.ConnectSandbox(ctx, sbx.ID)
		if err != nil {
			t.Fatal(err)
		}
		if resumed.Info.State != wrenn.StateRunning {
			t.Fatalf("connect answered %s", resumed.Info.State)
		}
		res, err := resumed.Commands.Run(ctx, "cat /home/user/keep.txt")
		if err != nil || res.Stdout != "kept" {
			t.Fatalf("%+v %v", res, err)
		}
	})

	step("fork and list with pagination", func(t *testing.T) {
		copies, err := sbx.Fork(ctx, wrenn.ForkCount(1))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range copies {
			keep(c)
		}
		if len(copies) != 1 {
			t.Fatalf("%d copies", len(copies))
		}
		res, err := copies[0].Commands.Run(ctx, "cat /home/user/keep.txt")
		if err != nil || res.Stdout != "kept" {
			t.Fatalf("fork: %+v %v", res, err)
		}
		seen := map[string]bool{}
		for info, err := range client.ListSandboxes(ctx, wrenn.ListOptions{Metadata: map[string]string{"suite": tag}, PageSize: 1}) {
			if err != nil {
				t.Fatal(err)
			}
			seen[info.ID] = true
		}
		if !seen[sbx.ID] || !seen[copies[0].ID] {
			t.Fatalf("listing saw %v", seen)
		}
		if err := copies[0].Kill(ctx); err != nil {
			t.Fatal(err)
		}
	})

	step("snapshot and a sandbox from it", func(t *testing.T) {
		tpl, err := sbx.Snapshot(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := client.Templates.Delete(context.Background(), tpl.Name); err != nil {
				t.Errorf("delete template %s: %v", tpl.Name, err)
			}
		}()
		got, err := client.Templates.Get(ctx, tpl.Name)
		if err != nil || got.Name != tpl.Name {
			t.Fatalf("get template: %v", err)
		}
		from, err := client.CreateSandbox(ctx, wrenn.WithTemplate(tpl.Name))
		if err != nil {
			t.Fatal(err)
		}
		keep(from)
		res, err := from.Commands.Run(ctx, "cat /home/user/keep.txt")
		if err != nil || res.Stdout != "kept" {
			t.Fatalf("%+v %v", res, err)
		}
		if err := from.Kill(ctx); err != nil {
			t.Fatal(err)
		}
	})

	step("error mapping on a real 404 and 403", func(t *testing.T) {
		_, err := client.GetSandbox(ctx, "sbx-doesnotexist0000")
		var apiErr *wrenn.APIError
		if !errors.As(err, &apiErr) || !errors.Is(err, wrenn.ErrNotFound) || apiErr.Status != 404 || apiErr.Code == "" {
			t.Fatalf("%#v", err)
		}
		t.Logf("404: code %s, request id %q", apiErr.Code, apiErr.RequestID)
		_, err = client.Keys.Create(ctx, wrenn.CreateKeyParams{Name: "from-a-key"})
		if !errors.Is(err, wrenn.ErrPermission) {
			t.Fatalf("key creation with an API key: %v", err)
		}
		bad := newClient(t, wrenn.WithAPIKey("wrn_00000000000000000000000000000000"))
		if _, err := bad.Templates.List(ctx); !errors.Is(err, wrenn.ErrAuthentication) {
			t.Fatalf("bad key: %v", err)
		}
	})

	step("account surface", func(t *testing.T) {
		tpls, err := client.Templates.List(ctx)
		if err != nil || len(tpls) == 0 {
			t.Fatalf("templates %v", err)
		}
		if _, err := client.Keys.List(ctx); err != nil {
			t.Fatal(err)
		}
		me, err := client.Teams.Me(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.Teams.Members(ctx, me.Team.ID); err != nil {
			t.Fatal(err)
		}
	})

	step("hosts (admin)", func(t *testing.T) {
		admin := os.Getenv("WRENN_ADMIN_TOKEN")
		if admin == "" {
			t.Skip("WRENN_ADMIN_TOKEN unset")
		}
		ac := newClient(t, wrenn.WithAPIKey(admin))
		hosts, err := ac.Hosts.List(ctx)
		if err != nil || len(hosts) == 0 {
			t.Fatalf("list: %d %v", len(hosts), err)
		}
		created, err := ac.Hosts.Create(ctx, wrenn.CreateHostParams{Name: "go-sdk-" + strconv.FormatInt(time.Now().Unix()%100000, 10), Tags: []string{"a"}})
		if err != nil {
			t.Fatal(err)
		}
		id := created.Host.ID
		defer func() {
			if err := ac.Hosts.Delete(context.Background(), id, true); err != nil {
				t.Errorf("delete host: %v", err)
			}
		}()
		if !strings.HasPrefix(created.RegistrationToken, "wrh_") {
			t.Fatalf("token %q", created.RegistrationToken)
		}
		tags, err := ac.Hosts.AddTags(ctx, id, "b")
		if err != nil || len(tags) != 2 {
			t.Fatalf("tags %v %v", tags, err)
		}
		if err := ac.Hosts.RemoveTag(ctx, id, "a"); err != nil {
			t.Fatal(err)
		}
		h, err := ac.Hosts.SetDraining(ctx, id, true)
		if err != nil || !h.Draining {
			t.Fatalf("drain %v", err)
		}
	})

	step("kill", func(t *testing.T) {
		if err := sbx.Kill(ctx); err != nil {
			t.Fatal(err)
		}
		info, err := client.GetSandbox(ctx, sbx.ID)
		if err == nil && info.State == wrenn.StateRunning {
			t.Fatalf("still running after kill")
		}
	})

	// After the scenario's sandboxes ran: the harness's fresh team has no
	// plan, so its pool has none (no limit) and nothing is charged, while
	// the ledger metered the sandbox this scenario ran.
	step("pool and usage", func(t *testing.T) {
		me, err := client.Teams.Me(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pool, err := client.Pools.Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if pool.TeamID != me.Team.ID || pool.Plan != nil || pool.Size != nil || pool.Over {
			t.Fatalf("pool of a team without a plan: %+v", pool)
		}
		usage, err := client.Pools.Usage(ctx, wrenn.UsageParams{By: wrenn.UsageBySandbox})
		if err != nil {
			t.Fatal(err)
		}
		var entry *wrenn.UsageEntry
		for _, e := range usage.Entries {
			if e.Key == sbx.ID {
				entry = e
			}
		}
		if entry == nil || entry.RunningSeconds <= 0 || entry.VCPUSeconds <= 0 {
			t.Fatalf("usage by sandbox has no running seconds for %s: %+v", sbx.ID, entry)
		}
		t.Logf("%s ran %.1f s (%d groups)", sbx.ID, entry.RunningSeconds, len(usage.Entries))
		intervals := 0
		for iv, err := range client.Pools.ExportUsage(ctx, time.Time{}, time.Time{}) {
			if err != nil {
				t.Fatal(err)
			}
			if iv.SandboxID == sbx.ID && iv.Phase == "running" {
				intervals++
			}
		}
		if intervals == 0 {
			t.Fatalf("the export has no running interval of %s", sbx.ID)
		}
		inv, err := client.Pools.Invoice(ctx, time.Time{}, time.Time{})
		if err != nil || inv.Plan != nil || inv.TotalCents != 0 {
			t.Fatalf("invoice without a plan: %+v %v", inv, err)
		}
	})
}

// httpsClient trusts WRENN_TEST_CA and sends *.localhost to 127.0.0.1.
func httpsClient(t *testing.T) *http.Client {
	t.Helper()
	roots, _ := x509.SystemCertPool()
	if roots == nil {
		roots = x509.NewCertPool()
	}
	if ca := os.Getenv("WRENN_TEST_CA"); ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			t.Fatal(err)
		}
		roots.AppendCertsFromPEM(pem)
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, port, err := net.SplitHostPort(addr)
			if err == nil && (host == "localhost" || strings.HasSuffix(host, ".localhost")) {
				addr = net.JoinHostPort("127.0.0.1", port)
			}
			return dialer.DialContext(ctx, network, addr)
		},
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// pattern yields n deterministic bytes without holding them.
type pattern struct {
	left int64
	ctr  uint64
}

func newPattern(n int64) *pattern { return &pattern{left: n} }

func (p *pattern) Read(b []byte) (int, error) {
	if p.left == 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > p.left {
		b = b[:p.left]
	}
	for i := range b {
		p.ctr = p.ctr*6364136223846793005 + 1442695040888963407
		b[i] = byte(p.ctr >> 56)
	}
	p.left -= int64(len(b))
	return len(b), nil
}

func resetPeakRSS(t *testing.T) {
	t.Helper()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Logf("cannot reset the peak RSS (%v); measuring from process start", err)
	}
}

func rssKiB(t *testing.T, field string) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			v, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return v
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}
