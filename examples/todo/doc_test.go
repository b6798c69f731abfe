package main

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
