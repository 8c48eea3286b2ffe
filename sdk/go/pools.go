package wrenn

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/url"
	"time"
)

// PoolsService reads the team's pool, its usage and its invoice. A create,
// fork, resume or pause the pool cannot hold fails with an error that
// matches [ErrPoolExhausted] and carries the server's message (which
// limit, what is used, what was asked); it is not retried.
type PoolsService struct{ c *Client }

// Get returns the team's pool: its plan, size, use and whether the use is
// over the size. A team without a plan has a nil Plan and Size (no pool
// limit) and its use still counted.
func (s *PoolsService) Get(ctx context.Context) (*Pool, error) {
	var p Pool
	if err := s.c.do(ctx, call{method: "GET", path: "/v1/pool"}, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// UsageParams selects usage totals. By defaults to [UsageByDay]; a zero
// Start or End is the server's default (the last 30 days, ending now);
// End is exclusive.
type UsageParams struct {
	By         UsageBy
	Start, End time.Time
}

func rangeQuery(start, end time.Time) url.Values {
	q := url.Values{}
	if !start.IsZero() {
		q.Set("start", start.UTC().Format(time.RFC3339Nano))
	}
	if !end.IsZero() {
		q.Set("end", end.UTC().Format(time.RFC3339Nano))
	}
	return q
}

// Usage returns the team's usage totals per day, hour, sandbox or
// template over [Start, End).
func (s *PoolsService) Usage(ctx context.Context, p UsageParams) (*Usage, error) {
	q := rangeQuery(p.Start, p.End)
	if p.By != "" {
		q.Set("by", string(p.By))
	}
	q.Set("format", "json")
	var u Usage
	if err := s.c.do(ctx, call{method: "GET", path: "/v1/usage", query: q}, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// ExportUsage streams the usage ledger's intervals that overlap [start,
// end), oldest first (zero times: the server's defaults). It reads one
// line at a time, so an export of any length holds one interval in
// memory; stopping the loop closes the stream. The request is sent when
// the loop starts; an error (the request's, or a stream cut short) is the
// last pair yielded.
func (s *PoolsService) ExportUsage(ctx context.Context, start, end time.Time) iter.Seq2[*UsageInterval, error] {
	return func(yield func(*UsageInterval, error) bool) {
		q := rangeQuery(start, end)
		q.Set("format", "json")
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var body io.ReadCloser
		err := s.c.do(ctx, call{method: "GET", path: "/v1/usage/export", query: q, stream: true}, &body)
		if err != nil {
			yield(nil, err)
			return
		}
		defer body.Close()
		r := bufio.NewReader(body)
		for {
			line, err := r.ReadBytes('\n')
			if err != nil {
				if len(line) > 0 && errors.Is(err, io.EOF) {
					// The server ends every line: one without its
					// newline is a stream cut short.
					err = io.ErrUnexpectedEOF
				}
				if len(line) > 0 || !errors.Is(err, io.EOF) {
					yield(nil, fmt.Errorf("wrenn: usage export: %w", err))
				}
				return
			}
			var iv UsageInterval
			if err := json.Unmarshal(line, &iv); err != nil {
				yield(nil, fmt.Errorf("wrenn: usage export line: %w", err))
				return
			}
			if !yield(&iv, nil) {
				return
			}
		}
	}
}

// Invoice returns the team's invoice preview for [start, end) (zero
// times: the server's defaults): the plan's price plus burst vCPU-hours at
// the plan's price, in cents.
func (s *PoolsService) Invoice(ctx context.Context, start, end time.Time) (*Invoice, error) {
	var inv Invoice
	err := s.c.do(ctx, call{method: "GET", path: "/v1/usage/invoice", query: rangeQuery(start, end)}, &inv)
	if err != nil {
		return nil, err
	}
	return &inv, nil
}
