package wrenn

import (
	"context"
	"errors"

	"connectrpc.com/connect"

	"github.com/wrenn-dev/wrenn/sdk/go/internal/envd/filesystem"
)

// EventType is the kind of a file-system change.
type EventType string

// Change kinds.
const (
	EventCreate EventType = "create"
	EventWrite  EventType = "write"
	EventRemove EventType = "remove"
	EventRename EventType = "rename"
	EventChmod  EventType = "chmod"
)

// FilesystemEvent is one change in a watched directory; Name is relative
// to it.
type FilesystemEvent struct {
	Name string
	Type EventType
	// Entry is set for create, write and chmod with [WatchIncludeEntry].
	Entry *EntryInfo
}

// WatchOption adjusts a watch.
type WatchOption func(*filesystem.WatchDirRequest, *fileOptions)

// WatchRecursive watches the whole tree.
func WatchRecursive() WatchOption {
	return func(r *filesystem.WatchDirRequest, _ *fileOptions) { r.Recursive = true }
}

// WatchIncludeEntry sends each changed entry's information.
func WatchIncludeEntry() WatchOption {
	return func(r *filesystem.WatchDirRequest, _ *fileOptions) { r.IncludeEntry = true }
}

// WatchAsUser picks the guest user.
func WatchAsUser(user string) WatchOption {
	return func(_ *filesystem.WatchDirRequest, o *fileOptions) { o.user = user }
}

// WatchHandle is a running watch; Stop ends it.
type WatchHandle struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// Stop ends the watch and waits for its callback to return.
func (w *WatchHandle) Stop() {
	w.cancel()
	<-w.done
}

// Err is why the watch ended (nil after Stop).
func (w *WatchHandle) Err() error {
	<-w.done
	return w.err
}

// WatchDir calls onEvent for each change in dir until Stop. It returns
// once the watch is in place, so changes made after it are seen.
func (f *Files) WatchDir(ctx context.Context, dir string, onEvent func(FilesystemEvent), opts ...WatchOption) (*WatchHandle, error) {
	req := &filesystem.WatchDirRequest{Path: dir}
	o := fileOpts(nil)
	for _, opt := range opts {
		opt(req, &o)
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stream, err := f.dp.fs.WatchDir(withUser(sctx, o.user), connect.NewRequest(req))
	if err != nil {
		cancel()
		return nil, fromConnect(err)
	}
	w := &WatchHandle{cancel: cancel, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		defer close(w.done)
		defer stream.Close()
		first := true
		for stream.Receive() {
			msg := stream.Msg()
			if first {
				first = false
				started <- nil
			}
			if ev := msg.GetFilesystem(); ev != nil {
				onEvent(eventFrom(ev))
			}
		}
		err := stream.Err()
		if errors.Is(err, context.Canceled) && sctx.Err() != nil {
			err = nil
		}
		w.err = fromConnect(err)
		if first {
			started <- w.err
		}
	}()
	select {
	case err := <-started:
		if err != nil {
			cancel()
			<-w.done
			return nil, err
		}
	case <-ctx.Done():
		cancel()
		<-w.done
		return nil, ctx.Err()
	}
	return w, nil
}

func eventFrom(ev *filesystem.FilesystemEvent) FilesystemEvent {
	out := FilesystemEvent{Name: ev.GetName()}
	switch ev.GetType() {
	case filesystem.EventType_EVENT_TYPE_CREATE:
		out.Type = EventCreate
	case filesystem.EventType_EVENT_TYPE_WRITE:
		out.Type = EventWrite
	case filesystem.EventType_EVENT_TYPE_REMOVE:
		out.Type = EventRemove
	case filesystem.EventType_EVENT_TYPE_RENAME:
		out.Type = EventRename
	case filesystem.EventType_EVENT_TYPE_CHMOD:
		out.Type = EventChmod
	}
	if ev.Entry != nil {
		e := entryFrom(ev.GetEntry())
		out.Entry = &e
	}
	return out
}
