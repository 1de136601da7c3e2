package exim

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDocsCarryTheDropIns keeps docs/exim.md in step with the files the
// end-to-end test runs Exim with: each one is quoted verbatim twice, in the
// split configuration and in the single-file block.
func TestDocsCarryTheDropIns(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/exim.md")
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("../../../clients/exim/conf.d/*/*")
	if err != nil || len(files) != 4 {
		t.Fatalf("drop-in files %v (%v), want 4", files, err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(string(doc), string(b)); n != 2 {
			t.Errorf("docs/exim.md quotes %s %d times, want 2 (split and single file)", f, n)
		}
	}
}
