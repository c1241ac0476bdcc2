package gateway

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// inotifyEvent encodes one struct inotify_event as the kernel writes it.
func inotifyEvent(wd int32, mask uint32, name string) []byte {
	n := (len(name) + 1 + 15) &^ 15
	b := make([]byte, syscall.SizeofInotifyEvent+n)
	binary.NativeEndian.PutUint32(b[0:], uint32(wd))
	binary.NativeEndian.PutUint32(b[4:], mask)
	binary.NativeEndian.PutUint32(b[12:], uint32(n))
	copy(b[syscall.SizeofInotifyEvent:], name)
	return b
}

// FuzzInotifyParse: any bytes read from the inotify descriptor are parsed without a panic,
// and never make the watcher look outside the watched directory.
func FuzzInotifyParse(f *testing.F) {
	f.Add(inotifyEvent(1, syscall.IN_CREATE, "a.py"))
	f.Add(append(inotifyEvent(1, syscall.IN_CREATE|syscall.IN_ISDIR, "pkg"), inotifyEvent(1, syscall.IN_MODIFY, "b")...))
	f.Add(inotifyEvent(1, syscall.IN_IGNORED, ""))
	f.Add(inotifyEvent(1, syscall.IN_CREATE|syscall.IN_ISDIR, ".."))
	f.Add([]byte{1, 2, 3})
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		w := &dirWatcher{fd: -1, dirs: map[int32]string{1: dir}}
		what := w.parse(b)
		if p := strings.TrimSuffix(what, " changed"); what != "" && p != dir && filepath.Dir(p) != dir {
			t.Fatalf("change %q outside %s", what, dir)
		}
	})
}

// TestDirWatcher: a real inotify watcher reports a file written in a watched directory and
// in a directory made after it started.
func TestDirWatcher(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w, err := newDirWatcher([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	os.WriteFile(filepath.Join(dir, "a"), []byte("1"), 0o644)
	if what, err := w.next(); err != nil || what != filepath.Join(dir, "a")+" changed" {
		t.Fatalf("next = %q, %v", what, err)
	}
	w.drain()
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	if what, err := w.next(); err != nil || what != filepath.Join(dir, "sub")+" changed" {
		t.Fatalf("next = %q, %v", what, err)
	}
	w.drain()
	os.WriteFile(filepath.Join(dir, "sub", "b"), []byte("2"), 0o644)
	if what, err := w.next(); err != nil || what != filepath.Join(dir, "sub", "b")+" changed" {
		t.Fatalf("next = %q, %v", what, err)
	}
	w.close()
	if _, err := w.next(); err == nil {
		t.Fatal("next after close: no error")
	}
}
