package tests

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"portico/config"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite testdata/crossbar-configs/expected.txt")

// corpus holds Crossbar node configs from public repositories (see its README.md).
const corpus = "testdata/crossbar-configs"

// envRef finds the environment variables a config names ("$PORT", "${MYSECRET}").
var envRef = regexp.MustCompile(`"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?"`)

// TestCrossbarCorpus loads every Crossbar node config of the corpus, each from its own
// directory as the node directory, and compares what Portico refuses with expected.txt: one
// line per problem of each refused file. A file that passed and now fails, a refusal whose
// message changed and a refused file that now passes all fail the test (go test ./tests -run
// CrossbarCorpus -update-corpus rewrites the file after checking the change). The log says how
// many files pass and ranks the refusal reasons.
func TestCrossbarCorpus(t *testing.T) {
	var files []string
	err := filepath.WalkDir(corpus, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ext := filepath.Ext(p); !d.IsDir() && (ext == ".json" || ext == ".yaml") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	if len(files) < 200 {
		t.Fatalf("only %d configs under %s", len(files), corpus)
	}
	// The variables the configs name (secrets, as their READMEs say) are set, to the same value
	// whatever the environment the test runs in.
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range envRef.FindAllSubmatch(b, -1) {
			if name := string(m[1]); name != "schema" {
				t.Setenv(name, "1")
			}
		}
	}

	var got strings.Builder
	pass := 0
	reasons := map[string]int{}
	// The TLS keys and certificates a node names are not published with it (private keys):
	// such a file is refused, as Portico would refuse to start without them, and the log
	// counts apart those refused for nothing else.
	missingOnly, missing := 0, map[string]bool{}
	for _, f := range files {
		rel, _ := filepath.Rel(corpus, f)
		dir, err := filepath.Abs(filepath.Dir(f))
		if err != nil {
			t.Fatal(err)
		}
		_, err = config.Load(dir, filepath.Base(f))
		if err == nil {
			pass++
			continue
		}
		var ps config.Problems
		if !errors.As(err, &ps) {
			t.Fatalf("%s: %v", rel, err)
		}
		seen := map[string]bool{}
		onlyMissing, absent := true, []string{}
		for _, p := range ps {
			if !strings.HasSuffix(p.Msg, " does not exist") {
				onlyMissing = false
			} else {
				absent = append(absent, filepath.Base(strings.TrimSuffix(p.Msg, " does not exist")))
			}
			fmt.Fprintf(&got, "%s\t%s\n", filepath.ToSlash(rel), relPaths(p.String(), dir))
			r := reason(p.Msg)
			if !seen[r] {
				seen[r] = true
				reasons[r]++
			}
		}
		if onlyMissing {
			missingOnly++
			for _, f := range absent {
				missing[f] = true
			}
		}
	}
	t.Logf("crossbar corpus: %d of %d pass", pass, len(files))
	// The share that matters to a Crossbar user: of the configs Crossbar itself accepts.
	refused := crossbarRefuses(t)
	accepted := 0
	for _, f := range files {
		rel, _ := filepath.Rel(corpus, f)
		if _, ok := refused[filepath.ToSlash(rel)]; ok {
			delete(refused, filepath.ToSlash(rel))
			if !strings.Contains(got.String(), filepath.ToSlash(rel)+"\t") {
				t.Errorf("%s: Crossbar's checkconfig refuses it (crossbar-refuses.txt) but Portico accepts it", rel)
			}
			continue
		}
		accepted++
	}
	for f := range refused {
		t.Errorf("crossbar-refuses.txt names %s, which is not in the corpus", f)
	}
	t.Logf("crossbar corpus: %d of the %d configs Crossbar's checkconfig accepts pass (%.1f%%)", pass, accepted, 100*float64(pass)/float64(accepted))
	t.Logf("crossbar corpus: %d more are refused only for files their repository does not carry (%s)", missingOnly, strings.Join(sortedSet(missing), ", "))
	ranked := make([]string, 0, len(reasons))
	for r := range reasons {
		ranked = append(ranked, r)
	}
	sort.Slice(ranked, func(i, j int) bool {
		if reasons[ranked[i]] != reasons[ranked[j]] {
			return reasons[ranked[i]] > reasons[ranked[j]]
		}
		return ranked[i] < ranked[j]
	})
	for _, r := range ranked {
		t.Logf("%4d files: %s", reasons[r], r)
	}

	want := filepath.Join(corpus, "expected.txt")
	if *updateCorpus {
		if err := os.WriteFile(want, []byte(got.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	b, err := os.ReadFile(want)
	if err != nil {
		t.Fatalf("%v (run with -update-corpus to create it)", err)
	}
	wantLines, gotLines := lineSet(string(b)), lineSet(got.String())
	for _, l := range sortedSet(gotLines) {
		if !wantLines[l] {
			t.Errorf("new refusal: %s", l)
		}
	}
	for _, l := range sortedSet(wantLines) {
		if !gotLines[l] {
			t.Errorf("expected refusal is gone (run with -update-corpus if that is the fix): %s", l)
		}
	}
}

// relPaths writes the absolute paths in msg relative to the node directory, as $NODE/...
func relPaths(msg, dir string) string {
	up := "$NODE"
	for d := dir; d != filepath.Dir(d); d = filepath.Dir(d) {
		msg = strings.ReplaceAll(msg, d+string(filepath.Separator), up+"/")
		up += "/.."
	}
	return msg
}

// reason is a problem's message without the names that differ between files (quoted values
// other than types and keys, numbers), so that equal causes count together.
func reason(msg string) string {
	msg = regexp.MustCompile(`\$NODE\S*|/\S+`).ReplaceAllString(msg, "PATH")
	return msg
}

func lineSet(s string) map[string]bool {
	m := map[string]bool{}
	for _, l := range strings.Split(s, "\n") {
		if l != "" {
			m[l] = true
		}
	}
	return m
}

func sortedSet(m map[string]bool) []string {
	l := make([]string, 0, len(m))
	for k := range m {
		l = append(l, k)
	}
	sort.Strings(l)
	return l
}

// crossbarRefuses reads crossbar-refuses.txt: the corpus files Crossbar's own checkconfig
// refuses, each with its reason.
func crossbarRefuses(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(corpus, "crossbar-refuses.txt"))
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		f, why, ok := strings.Cut(l, "\t")
		if !ok || why == "" {
			t.Fatalf("crossbar-refuses.txt: %q: want file, tab, Crossbar's reason", l)
		}
		m[f] = why
	}
	return m
}
