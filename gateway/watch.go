package gateway

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// dirWatcher reports changes under directories, recursively, with inotify(7): what a guest's
// `options.watch` needs (Crossbar uses watchdog's recursive observer for it,
// crossbar/common/fswatcher.py). Directories created later are watched as they appear.
type dirWatcher struct {
	f    *os.File
	fd   int
	dirs map[int32]string // watch descriptor -> directory; used by one goroutine only
	buf  []byte
}

const watchMask = syscall.IN_CREATE | syscall.IN_DELETE | syscall.IN_MODIFY | syscall.IN_CLOSE_WRITE |
	syscall.IN_MOVED_FROM | syscall.IN_MOVED_TO | syscall.IN_ATTRIB | syscall.IN_DELETE_SELF

func newDirWatcher(dirs []string) (*dirWatcher, error) {
	// Non-blocking, so that the os.File goes through Go's poller: Close then ends a pending
	// Read, and a read deadline lets drain return.
	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC | syscall.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	w := &dirWatcher{f: os.NewFile(uintptr(fd), "inotify"), fd: fd, dirs: map[int32]string{}, buf: make([]byte, 64<<10)}
	for _, d := range dirs {
		if err := w.addTree(d); err != nil {
			w.f.Close()
			return nil, err
		}
	}
	return w, nil
}

func (w *dirWatcher) addTree(root string) error {
	return filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if de.IsDir() {
			wd, err := syscall.InotifyAddWatch(w.fd, p, watchMask)
			if err != nil {
				return fmt.Errorf("watching %s: %w", p, err)
			}
			w.dirs[int32(wd)] = p
		}
		return nil
	})
}

// next waits for changes and describes the first of those read ("/dir/file changed"); it
// returns an error once the watcher is closed.
func (w *dirWatcher) next() (string, error) {
	for {
		n, err := w.f.Read(w.buf)
		if err != nil {
			return "", err
		}
		if what := w.parse(w.buf[:n]); what != "" {
			return what, nil
		}
	}
}

// drain reads the changes already queued (those made while the guest was restarting), so
// that they do not restart it once more.
func (w *dirWatcher) drain() {
	for {
		_ = w.f.SetReadDeadline(time.Now())
		n, err := w.f.Read(w.buf)
		if err != nil {
			break
		}
		w.parse(w.buf[:n])
	}
	_ = w.f.SetReadDeadline(time.Time{})
}

// parse walks struct inotify_event records (wd, mask, cookie, len, name), watches new
// directories, and describes the first change.
func (w *dirWatcher) parse(b []byte) string {
	what := ""
	for len(b) >= syscall.SizeofInotifyEvent {
		wd := int32(binary.NativeEndian.Uint32(b[0:]))
		mask := binary.NativeEndian.Uint32(b[4:])
		nameLen := int(binary.NativeEndian.Uint32(b[12:]))
		end := syscall.SizeofInotifyEvent + nameLen
		if end > len(b) {
			break
		}
		name := string(trimNUL(b[syscall.SizeofInotifyEvent:end]))
		b = b[end:]
		dir, ok := w.dirs[wd]
		if !ok || strings.Contains(name, "/") || name == "." || name == ".." {
			continue // the kernel names an entry of the watched directory, never a path
		}
		p := filepath.Join(dir, name)
		if mask&syscall.IN_IGNORED != 0 {
			delete(w.dirs, wd)
			continue
		}
		if mask&syscall.IN_ISDIR != 0 && mask&(syscall.IN_CREATE|syscall.IN_MOVED_TO) != 0 {
			_ = w.addTree(p) // gone again already: nothing to watch
		}
		if what == "" {
			what = p + " changed"
		}
	}
	return what
}

func trimNUL(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return b
}

func (w *dirWatcher) close() error {
	err := w.f.Close()
	if errors.Is(err, os.ErrClosed) {
		return nil
	}
	return err
}
