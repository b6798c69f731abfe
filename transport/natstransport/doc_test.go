package natstransport_test

import (
	"testing"

	"github.com/activeactive/crdt/internal/doccheck"
)

// TestGodocOnEveryExportedName holds every package of this module to a doc
// comment on its package clause and on every exported name (see package
// doccheck of the core module for what counts).
func TestGodocOnEveryExportedName(t *testing.T) {
	doccheck.TestDocs(t, ".")
}

// TestRunnableExampleInEveryPackage holds this module's package to at
// least one Example function whose output go test checks.
func TestRunnableExampleInEveryPackage(t *testing.T) {
	doccheck.TestExamples(t, ".")
}
