// Command bench measures the SDK against a running sandbox
// (WRENN_BENCH_SANDBOX) and prints one JSON line per figure; see
// scripts/bench.sh.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"os"
	"sort"
	"time"

	wrenn "github.com/wrenn-dev/wrenn/sdk/go"
)

func main() {
	ctx := context.Background()
	id := os.Getenv("WRENN_BENCH_SANDBOX")
	if id == "" {
		log.Fatal("WRENN_BENCH_SANDBOX is not set")
	}
	client, err := wrenn.NewClient()
	if err != nil {
		log.Fatal(err)
	}
	sbx, err := client.ConnectSandbox(ctx, id)
	if err != nil {
		log.Fatal(err)
	}

	// run("echo hi"), after a warm-up that opens the connections.
	for i := 0; i < 5; i++ {
		must(sbx.Commands.Run(ctx, "echo hi"))
	}
	var runs []float64
	for i := 0; i < 200; i++ {
		start := time.Now()
		res := must(sbx.Commands.Run(ctx, "echo hi"))
		runs = append(runs, ms(time.Since(start)))
		if res.Stdout != "hi\n" {
			log.Fatalf("run answered %q", res.Stdout)
		}
	}
	emit(map[string]any{"sdk": "go", "figure": "run_echo", "median_ms": pct(runs, 50), "p99_ms": pct(runs, 99), "n": len(runs)})

	// create -> run("true") -> kill.
	var creates []float64
	for i := 0; i < 10; i++ {
		start := time.Now()
		s, err := client.CreateSandbox(ctx, wrenn.WithTemplate("base"))
		if err != nil {
			log.Fatal(err)
		}
		_, err = s.Commands.Run(ctx, "true")
		creates = append(creates, ms(time.Since(start)))
		if kerr := s.Kill(ctx); kerr != nil {
			log.Printf("kill %s: %v", s.ID, kerr)
		}
		if err != nil {
			log.Fatal(err)
		}
	}
	emit(map[string]any{"sdk": "go", "figure": "create_first_command", "median_ms": pct(creates, 50), "n": len(creates)})

	// 10 MiB upload and download.
	data := bytes.Repeat([]byte("0123456789abcdef"), 10<<20/16)
	var ups, downs []float64
	for i := 0; i < 5; i++ {
		start := time.Now()
		if _, err := sbx.Files.WriteBytes(ctx, "/tmp/bench-10mib", data); err != nil {
			log.Fatal(err)
		}
		ups = append(ups, ms(time.Since(start)))
		start = time.Now()
		n, err := sbx.Files.ReadTo(ctx, "/tmp/bench-10mib", io.Discard)
		if err != nil || n != int64(len(data)) {
			log.Fatalf("download: %d bytes, %v", n, err)
		}
		downs = append(downs, ms(time.Since(start)))
	}
	_ = sbx.Files.Remove(ctx, "/tmp/bench-10mib")
	emit(map[string]any{"sdk": "go", "figure": "file_10mib", "upload_ms": pct(ups, 50), "download_ms": pct(downs, 50), "n": len(ups)})
}

func must(r *wrenn.CommandResult, err error) *wrenn.CommandResult {
	if err != nil {
		log.Fatal(err)
	}
	return r
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// pct is the p-th percentile (nearest rank), rounded to 0.01 ms.
func pct(xs []float64, p int) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	i := (p*len(s) + 99) / 100
	if i < 1 {
		i = 1
	}
	if p == 50 && len(s)%2 == 0 {
		return round((s[len(s)/2-1] + s[len(s)/2]) / 2)
	}
	return round(s[i-1])
}

func round(x float64) float64 { return float64(int64(x*100+0.5)) / 100 }

func emit(v map[string]any) {
	b, err := json.Marshal(v)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(b))
}
