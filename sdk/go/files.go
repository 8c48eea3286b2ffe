package wrenn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"time"

	"connectrpc.com/connect"

	"github.com/wrenn-dev/wrenn/sdk/go/internal/envd/filesystem"
)

// Files reads and writes the sandbox's file system. Reads and writes
// stream, so multi-GB files never sit in memory.
type Files struct {
	dp  *dataPlane
	sbx *Sandbox
}

// FileType is the kind of a file-system entry.
type FileType string

// Entry kinds.
const (
	FileTypeFile    FileType = "file"
	FileTypeDir     FileType = "dir"
	FileTypeSymlink FileType = "symlink"
)

// EntryInfo describes a file or directory.
type EntryInfo struct {
	Name          string
	Path          string
	Type          FileType
	Size          int64
	Mode          uint32
	Permissions   string
	Owner         string
	Group         string
	ModifiedTime  time.Time
	SymlinkTarget string
	Metadata      map[string]string
}

// WriteInfo is what envd answers for each written file.
type WriteInfo struct {
	Path     string            `json:"path"`
	Name     string            `json:"name"`
	Type     string            `json:"type"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

// FileOption adjusts a file operation.
type FileOption func(*fileOptions)

type fileOptions struct {
	user     string
	depth    uint32
	metadata map[string]string
}

// AsUser picks the guest user (default "user"); relative paths resolve in
// their home.
func AsUser(user string) FileOption { return func(o *fileOptions) { o.user = user } }

// WithDepth sets how deep List goes (default 1).
func WithDepth(d uint32) FileOption { return func(o *fileOptions) { o.depth = d } }

// WithFileMetadata stores key/value metadata with written files.
func WithFileMetadata(md map[string]string) FileOption {
	return func(o *fileOptions) { o.metadata = md }
}

func fileOpts(opts []FileOption) fileOptions {
	o := fileOptions{user: DefaultUser, depth: 1}
	for _, f := range opts {
		f(&o)
	}
	return o
}

func (f *Files) filesURL(path, user string) string {
	q := url.Values{}
	if path != "" {
		q.Set("path", path)
	}
	q.Set("username", user)
	return f.dp.client.baseURL + "/files?" + q.Encode()
}

// ReadStream opens the file for streaming; close the reader when done.
func (f *Files) ReadStream(ctx context.Context, path string, opts ...FileOption) (io.ReadCloser, error) {
	o := fileOpts(opts)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.filesURL(path, o.user), nil)
	if err != nil {
		return nil, err
	}
	f.dp.setHeaders(req.Header, o.user)
	resp, err := f.dp.client.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("wrenn: read %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return nil, errorFromResponse(resp, b)
	}
	return resp.Body, nil
}

// Read returns the file's bytes.
func (f *Files) Read(ctx context.Context, path string, opts ...FileOption) ([]byte, error) {
	r, err := f.ReadStream(ctx, path, opts...)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// ReadText returns the file as a string.
func (f *Files) ReadText(ctx context.Context, path string, opts ...FileOption) (string, error) {
	b, err := f.Read(ctx, path, opts...)
	return string(b), err
}

// ReadTo streams the file into w and returns the byte count.
func (f *Files) ReadTo(ctx context.Context, path string, w io.Writer, opts ...FileOption) (int64, error) {
	r, err := f.ReadStream(ctx, path, opts...)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	return io.Copy(w, r)
}

// Write streams r into the file at path (parents are made), replacing it.
func (f *Files) Write(ctx context.Context, path string, r io.Reader, opts ...FileOption) (*WriteInfo, error) {
	o := fileOpts(opts)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.filesURL(path, o.user), r)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	infos, err := f.upload(req, o)
	if err != nil {
		return nil, err
	}
	if len(infos) == 0 {
		return &WriteInfo{Path: path, Type: "file"}, nil
	}
	return &infos[0], nil
}

// WriteBytes writes data to the file at path.
func (f *Files) WriteBytes(ctx context.Context, path string, data []byte, opts ...FileOption) (*WriteInfo, error) {
	return f.Write(ctx, path, bytes.NewReader(data), opts...)
}

// WriteString writes s to the file at path.
func (f *Files) WriteString(ctx context.Context, path, s string, opts ...FileOption) (*WriteInfo, error) {
	return f.Write(ctx, path, strings.NewReader(s), opts...)
}

// WriteEntry is one file of [Files.WriteMany].
type WriteEntry struct {
	Path string
	Data io.Reader
}

// WriteMany writes several files in one streamed multipart request.
func (f *Files) WriteMany(ctx context.Context, files []WriteEntry, opts ...FileOption) ([]WriteInfo, error) {
	o := fileOpts(opts)
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		for _, e := range files {
			part, err := mw.CreateFormFile("file", e.Path)
			if err == nil {
				_, err = io.Copy(part, e.Data)
			}
			if err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		pw.CloseWithError(mw.Close())
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.filesURL("", o.user), pr)
	if err != nil {
		pr.Close()
		return nil, err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	infos, err := f.upload(req, o)
	pr.Close()
	return infos, err
}

func (f *Files) upload(req *http.Request, o fileOptions) ([]WriteInfo, error) {
	f.dp.setHeaders(req.Header, o.user)
	for k, v := range o.metadata {
		req.Header.Set("X-Metadata-"+k, v)
	}
	resp, err := f.dp.client.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("wrenn: write: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, fmt.Errorf("wrenn: write: %w", err)
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		return nil, errorFromResponse(resp, b)
	}
	var infos []WriteInfo
	if len(bytes.TrimSpace(b)) > 0 {
		if err := json.Unmarshal(b, &infos); err != nil {
			return nil, fmt.Errorf("wrenn: decode write answer: %w", err)
		}
	}
	return infos, nil
}

// List lists a directory ([WithDepth] for deeper).
func (f *Files) List(ctx context.Context, path string, opts ...FileOption) ([]EntryInfo, error) {
	o := fileOpts(opts)
	resp, err := f.dp.fs.ListDir(withUser(ctx, o.user), connect.NewRequest(&filesystem.ListDirRequest{Path: path, Depth: o.depth}))
	if err != nil {
		return nil, fromConnect(err)
	}
	out := make([]EntryInfo, 0, len(resp.Msg.GetEntries()))
	for _, e := range resp.Msg.GetEntries() {
		out = append(out, entryFrom(e))
	}
	return out, nil
}

// GetInfo describes the entry at path.
func (f *Files) GetInfo(ctx context.Context, path string, opts ...FileOption) (*EntryInfo, error) {
	o := fileOpts(opts)
	resp, err := f.dp.fs.Stat(withUser(ctx, o.user), connect.NewRequest(&filesystem.StatRequest{Path: path}))
	if err != nil {
		return nil, fromConnect(err)
	}
	e := entryFrom(resp.Msg.GetEntry())
	return &e, nil
}

// Exists reports whether something is at path.
func (f *Files) Exists(ctx context.Context, path string, opts ...FileOption) (bool, error) {
	_, err := f.GetInfo(ctx, path, opts...)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// MakeDir makes a directory and its parents; false when it already existed.
func (f *Files) MakeDir(ctx context.Context, path string, opts ...FileOption) (bool, error) {
	o := fileOpts(opts)
	_, err := f.dp.fs.MakeDir(withUser(ctx, o.user), connect.NewRequest(&filesystem.MakeDirRequest{Path: path}))
	if err != nil {
		if connect.CodeOf(err) == connect.CodeAlreadyExists {
			return false, nil
		}
		return false, fromConnect(err)
	}
	return true, nil
}

// Rename moves oldPath to newPath.
func (f *Files) Rename(ctx context.Context, oldPath, newPath string, opts ...FileOption) (*EntryInfo, error) {
	o := fileOpts(opts)
	resp, err := f.dp.fs.Move(withUser(ctx, o.user), connect.NewRequest(&filesystem.MoveRequest{Source: oldPath, Destination: newPath}))
	if err != nil {
		return nil, fromConnect(err)
	}
	e := entryFrom(resp.Msg.GetEntry())
	return &e, nil
}

// Remove deletes a file or a directory tree (nothing there is no error).
func (f *Files) Remove(ctx context.Context, path string, opts ...FileOption) error {
	o := fileOpts(opts)
	_, err := f.dp.fs.Remove(withUser(ctx, o.user), connect.NewRequest(&filesystem.RemoveRequest{Path: path}))
	return fromConnect(err)
}

func entryFrom(e *filesystem.EntryInfo) EntryInfo {
	out := EntryInfo{
		Name: e.GetName(), Path: e.GetPath(), Size: e.GetSize(), Mode: e.GetMode(),
		Permissions: e.GetPermissions(), Owner: e.GetOwner(), Group: e.GetGroup(),
		SymlinkTarget: e.GetSymlinkTarget(), Metadata: e.GetMetadata(),
	}
	if t := e.GetModifiedTime(); t != nil {
		out.ModifiedTime = t.AsTime()
	}
	switch e.GetType() {
	case filesystem.FileType_FILE_TYPE_FILE:
		out.Type = FileTypeFile
	case filesystem.FileType_FILE_TYPE_DIRECTORY:
		out.Type = FileTypeDir
	case filesystem.FileType_FILE_TYPE_SYMLINK:
		out.Type = FileTypeSymlink
	}
	return out
}
