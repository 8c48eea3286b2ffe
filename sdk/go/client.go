package wrenn

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"
)

// Version is this SDK's version, sent in the User-Agent.
const Version = "0.1.0"

// Client talks to a Wrenn control plane. It is safe for concurrent use.
type Client struct {
	apiKey         string
	baseURL        string
	http           *http.Client
	retry          RetryPolicy
	requestTimeout time.Duration
	headers        http.Header
	sleep          func(context.Context, time.Duration) error

	// Templates, Keys, Teams, Hosts and Pools group the account surface.
	Templates *TemplatesService
	Keys      *KeysService
	Teams     *TeamsService
	Hosts     *HostsService
	Pools     *PoolsService
}

// Option configures a [Client].
type Option func(*clientOptions)

type clientOptions struct {
	apiKey, baseURL string
	httpClient      *http.Client
	retry           *RetryPolicy
	requestTimeout  time.Duration
	headers         http.Header
	getenv          func(string) string
}

// WithAPIKey sets the API key (`wrn_...`) or user JWT, over WRENN_API_KEY
// and the config file.
func WithAPIKey(key string) Option { return func(o *clientOptions) { o.apiKey = key } }

// WithBaseURL sets the control plane's URL, over WRENN_BASE_URL,
// WRENN_API_URL and the config file.
func WithBaseURL(u string) Option { return func(o *clientOptions) { o.baseURL = u } }

// WithHTTPClient sets the HTTP client for both planes. Its Timeout should
// be zero: it would cut long command and file streams.
func WithHTTPClient(c *http.Client) Option { return func(o *clientOptions) { o.httpClient = c } }

// WithRetry sets the retry policy of REST calls ([DefaultRetryPolicy]).
func WithRetry(p RetryPolicy) Option { return func(o *clientOptions) { o.retry = &p } }

// WithRequestTimeout bounds each REST try (default 5 min; 0: no bound
// beyond the context). Data-plane streams take their own timeouts.
func WithRequestTimeout(d time.Duration) Option {
	return func(o *clientOptions) { o.requestTimeout = d }
}

// WithHeader adds a header to every REST request (e.g. X-Team-Id).
func WithHeader(key, value string) Option {
	return func(o *clientOptions) { o.headers.Add(key, value) }
}

// NewClient builds a client. The API key comes from [WithAPIKey], else
// WRENN_API_KEY, else config.toml's api_key (or token) in
// $WRENN_CONFIG_DIR, $XDG_CONFIG_HOME/wrenn or ~/.config/wrenn; without one
// it returns [ErrNoAPIKey].
func NewClient(opts ...Option) (*Client, error) {
	o := clientOptions{getenv: os.Getenv, headers: http.Header{}, requestTimeout: 5 * time.Minute}
	for _, opt := range opts {
		opt(&o)
	}
	r, err := resolve(o.apiKey, o.baseURL, o.getenv)
	if err != nil {
		return nil, err
	}
	if _, err := url.Parse(r.baseURL); err != nil {
		return nil, fmt.Errorf("wrenn: base URL %q: %w", r.baseURL, err)
	}
	c := &Client{
		apiKey:         r.apiKey,
		baseURL:        r.baseURL,
		http:           o.httpClient,
		retry:          DefaultRetryPolicy,
		requestTimeout: o.requestTimeout,
		headers:        o.headers,
		sleep:          sleepCtx,
	}
	if c.http == nil {
		c.http = defaultHTTPClient()
	}
	if o.retry != nil {
		c.retry = *o.retry
	}
	c.Templates = &TemplatesService{c: c}
	c.Keys = &KeysService{c: c}
	c.Teams = &TeamsService{c: c}
	c.Hosts = &HostsService{c: c}
	c.Pools = &PoolsService{c: c}
	return c, nil
}

// BaseURL is the control plane's URL the client uses.
func (c *Client) BaseURL() string { return c.baseURL }

func defaultHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 64
	return &http.Client{Transport: t}
}

// call describes one REST request.
type call struct {
	method, path string
	query        url.Values
	body         any // marshalled as JSON when non-nil
	idempotent   bool
	headers      http.Header
	// stream: out is an *io.ReadCloser that receives the 2xx answer's
	// body, which the caller reads and closes; only ctx bounds it (not
	// RetryPolicy.MaxElapsed nor the per-try timeout).
	stream bool
}

// do sends a REST request with retries and decodes a 2xx JSON answer into
// out (when non-nil).
func (c *Client) do(ctx context.Context, cl call, out any) error {
	var payload []byte
	if cl.body != nil {
		var err error
		if payload, err = json.Marshal(cl.body); err != nil {
			return fmt.Errorf("wrenn: encode request: %w", err)
		}
	}
	if c.retry.MaxElapsed > 0 && !cl.stream {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.retry.MaxElapsed)
		defer cancel()
	}
	u := c.baseURL + cl.path
	if len(cl.query) > 0 {
		u += "?" + cl.query.Encode()
	}
	for attempt := 0; ; attempt++ {
		retry, wait, err := c.try(ctx, cl, u, payload, out)
		if !retry || attempt >= c.retry.MaxRetries {
			return err
		}
		if d := c.retry.backoff(attempt); d > wait {
			wait = d
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return err
		}
		if c.sleep(ctx, wait) != nil {
			return err
		}
	}
}

// try sends one request; it says whether to retry and how long the server
// asked to wait.
func (c *Client) try(ctx context.Context, cl call, u string, payload []byte, out any) (bool, time.Duration, error) {
	if c.requestTimeout > 0 && !cl.stream {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.requestTimeout)
		defer cancel()
	}
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, u, body)
	if err != nil {
		return false, 0, fmt.Errorf("wrenn: %w", err)
	}
	for k, vs := range c.headers {
		req.Header[k] = vs
	}
	for k, vs := range cl.headers {
		req.Header[k] = vs
	}
	req.Header.Set("Authorization", "Bearer "+c.apiKey)
	req.Header.Set("User-Agent", "wrenn-go/"+Version)
	req.Header.Set("Accept", "application/json")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return false, 0, fmt.Errorf("wrenn: %s %s: %w", cl.method, cl.path, err)
		}
		retry := neverSent(err) || cl.idempotent || safeToRepeat(req)
		return retry, 0, fmt.Errorf("wrenn: %s %s: %w", cl.method, cl.path, err)
	}
	if cl.stream && resp.StatusCode < 300 {
		*out.(*io.ReadCloser) = resp.Body
		return false, 0, nil
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		apiErr := errorFromResponse(resp, b)
		// A full pool frees only as the team's own sandboxes end: the
		// refusal comes back at once, with the server's message.
		retry := retryableStatus(resp.StatusCode) && !errors.Is(apiErr, ErrPoolExhausted) &&
			(resp.StatusCode == http.StatusTooManyRequests || cl.idempotent || safeToRepeat(req))
		return retry, apiErr.RetryAfter, apiErr
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		_, _ = io.Copy(io.Discard, resp.Body)
		return false, 0, nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return false, 0, fmt.Errorf("wrenn: decode %s %s answer: %w", cl.method, cl.path, err)
	}
	return false, 0, nil
}

// newIdempotencyKey is a random key in the server's [a-z0-9-] alphabet.
func newIdempotencyKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func pathEscape(s string) string { return url.PathEscape(s) }
