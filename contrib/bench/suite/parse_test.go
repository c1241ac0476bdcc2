package main

import (
	"testing"
	"time"
)

func TestParseWrkReport(t *testing.T) {
	out := []byte("Running 5s test @ http://127.0.0.1:1/\n  2 threads and 32 connections\nBENCH 123456 5001234 812 4310 3 7\n")
	rep, ok, err := parseWrkReport(out)
	if err != nil || !ok {
		t.Fatalf("ok %v err %v", ok, err)
	}
	want := wrkReport{requests: 123456, duration: 5001234 * time.Microsecond, p50: 812 * time.Microsecond,
		p99: 4310 * time.Microsecond, errors: 3, non2xx: 7}
	if rep != want {
		t.Fatalf("got %+v, want %+v", rep, want)
	}
	if _, ok, err := parseWrkReport([]byte("no report here\n")); ok || err != nil {
		t.Fatalf("no report: ok %v err %v", ok, err)
	}
	if _, _, err := parseWrkReport([]byte("BENCH 1 2 3 x 5 6\n")); err == nil {
		t.Fatal("a malformed report was accepted")
	}
}

func TestParseStat(t *testing.T) {
	// The command name may hold spaces and parentheses (proc(5)): fields are counted after
	// the last ')'.
	line := "4242 (a) b (c) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 3 0 100 1000 10 18446744073709551615\n"
	f, err := parseStat(line)
	if err != nil {
		t.Fatal(err)
	}
	if f[1] != "1" {
		t.Fatalf("ppid field %q", f[1])
	}
	ticks, err := statTicks(f)
	if err != nil || ticks != 325 {
		t.Fatalf("ticks %d, %v; want 325", ticks, err)
	}
	if _, err := parseStat("4242 (truncated"); err == nil {
		t.Fatal("a truncated stat line was accepted")
	}
}

func TestParseHWM(t *testing.T) {
	if got := parseHWM("Name:\tnginx\nVmPeak:\t  20000 kB\nVmHWM:\t    1536 kB\nVmRSS:\t 1000 kB\n"); got != 1536<<10 {
		t.Fatalf("VmHWM %d", got)
	}
	if got := parseHWM("Name:\tkthread\n"); got != 0 {
		t.Fatalf("no VmHWM: %d", got)
	}
}

func FuzzParseWrkReport(f *testing.F) {
	f.Add([]byte("BENCH 123456 5001234 812 4310 3 7\n"))
	f.Add([]byte("Running 1s test\nBENCH 0 0 0 0 0 0"))
	f.Fuzz(func(t *testing.T, b []byte) {
		rep, ok, err := parseWrkReport(b)
		if err == nil && ok && (rep.requests < 0 || rep.duration < 0 || rep.errors < 0 || rep.non2xx < 0) {
			t.Fatalf("negative count accepted: %+v", rep)
		}
	})
}

func FuzzParseStat(f *testing.F) {
	f.Add("4242 (a) b (c) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 3 0 100 1000 10 0\n")
	f.Fuzz(func(t *testing.T, s string) {
		fields, err := parseStat(s)
		if err == nil {
			_, _ = statTicks(fields) // must not panic: parseStat guarantees enough fields
		}
		_ = parseHWM(s)
	})
}
