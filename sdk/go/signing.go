package wrenn

import (
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"strconv"
	"time"
)

// SignedURLOption adjusts an upload or download URL.
type SignedURLOption func(*signedOptions)

type signedOptions struct {
	user    string
	expires time.Time
}

// SignedAsUser picks the guest user the URL acts as (default "user").
func SignedAsUser(user string) SignedURLOption { return func(o *signedOptions) { o.user = user } }

// SignedExpiresIn makes the URL stop working after d.
func SignedExpiresIn(d time.Duration) SignedURLOption {
	return func(o *signedOptions) { o.expires = time.Now().Add(d) }
}

// DownloadURL is a URL that GETs the file at path without other
// credentials, signed with the sandbox's envd token.
func (f *Files) DownloadURL(path string, opts ...SignedURLOption) (string, error) {
	return f.signedURL(path, "read", opts)
}

// UploadURL is a URL that takes a POST of the file at path (multipart or
// octet-stream) without other credentials.
func (f *Files) UploadURL(path string, opts ...SignedURLOption) (string, error) {
	return f.signedURL(path, "write", opts)
}

func (f *Files) signedURL(path, op string, opts []SignedURLOption) (string, error) {
	o := signedOptions{user: DefaultUser}
	for _, opt := range opts {
		opt(&o)
	}
	base, err := f.sbx.URL(EnvdPort)
	if err != nil {
		return "", err
	}
	var exp int64
	if !o.expires.IsZero() {
		exp = o.expires.Unix()
	}
	q := url.Values{}
	q.Set("path", path)
	q.Set("username", o.user)
	q.Set("signature", fileSignature(path, op, o.user, f.dp.token, exp))
	if exp != 0 {
		q.Set("signature_expiration", strconv.FormatInt(exp, 10))
	}
	return base + "/files?" + q.Encode(), nil
}

// fileSignature is envd's `v1_` signature of a file URL (docs/envd-wire.md,
// "Signed file URLs").
func fileSignature(path, op, user, token string, expiration int64) string {
	raw := path + ":" + op + ":" + user + ":" + token
	if expiration != 0 {
		raw += ":" + strconv.FormatInt(expiration, 10)
	}
	sum := sha256.Sum256([]byte(raw))
	return "v1_" + base64.RawStdEncoding.EncodeToString(sum[:])
}
