package crdt_test

import (
	"testing"

	"github.com/activeactive/crdt/internal/doccheck"
)

// TestGodocOnEveryExportedName holds every package of this module to a doc
// comment on its package clause and on every exported name (see package
// doccheck for what counts).
func TestGodocOnEveryExportedName(t *testing.T) {
	missing, err := doccheck.Missing(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range missing {
		t.Error(m)
	}
}

// TestRunnableExampleInEveryPackage holds every package of this module
// that users import to at least one Example function whose output go test
// checks.
func TestRunnableExampleInEveryPackage(t *testing.T) {
	without, err := doccheck.WithoutExample(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range without {
		t.Errorf("package %s has no runnable example", dir)
	}
}
