package crdt_test

import (
	"testing"

	"github.com/activeactive/crdt/internal/doccheck"
)

// TestGodocOnEveryExportedName holds every package of this module to a doc
// comment on its package clause and on every exported name (see package
// doccheck for what counts).
func TestGodocOnEveryExportedName(t *testing.T) {
	doccheck.TestDocs(t, ".")
}

// TestRunnableExampleInEveryPackage holds every package of this module
// that users import to at least one Example function whose output go test
// checks.
func TestRunnableExampleInEveryPackage(t *testing.T) {
	doccheck.TestExamples(t, ".")
}
