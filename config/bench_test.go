package config

import (
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkParse measures decoding the full example node in each format (a reload runs this
// once per SIGHUP, so it is not a hot path; the figure guards against accidental blow-ups such as
// quadratic key lookups).
func BenchmarkParse(b *testing.B) {
	dir, err := filepath.Abs("testdata/valid")
	if err != nil {
		b.Fatal(err)
	}
	for _, name := range []string{"full.json", "full.yaml", "node.toml"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			b.Fatal(err)
		}
		format := formatOf(name)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := parse(data, format, dir, name); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
