package doccheck

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestMissingFindsEachKind writes a package with one undocumented name of
// each kind, and documented ones of each kind, and checks that Missing
// names exactly the undocumented ones.
func TestMissingFindsEachKind(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("p/p.go", `package p

type T struct {
	A int
	// B is documented, and covers C below it.
	B int
	C int

	D int // D has a line comment.
	e int
	F struct {
		G int
	}
}

// I is documented; M is named here.
type I interface {
	M()
	N()
	O() // O has a line comment.
}

// F is documented.
func F() {}

func G() {}

func (T) M() {}

func (t *T) N() {}

// O is documented.
func (T) O() {}

type u struct{ X int }

func (u) M() {}

const K = 1

// Group doc covers L1 and L2.
const (
	L1 = 1
	L2 = 2
)

var (
	V1 = 1 // V1 has a line comment.
	V2 = 2
	v3 = 3
)
`)
	write("p/p_test.go", "package p\n\nfunc Exported() {}\n")
	write("p/testdata/x.go", "package x\n\nfunc Exported() {}\n")
	write("other/go.mod", "module other\n")
	write("other/o.go", "package o\n\nfunc Exported() {}\n")
	write("q/q.go", "// Package q is documented.\npackage q\n\n// X is documented.\nvar X = 1\n")

	got, err := Missing(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"p/p.go:1: package p has no package comment",
		"p/p.go:3: type T has no doc comment",
		"p/p.go:4: field T.A has no doc comment",
		"p/p.go:11: field T.F has no doc comment",
		"p/p.go:12: field T.F.G has no doc comment",
		"p/p.go:19: method I.N has no doc comment",
		"p/p.go:26: func G has no doc comment",
		"p/p.go:28: method T.M has no doc comment",
		"p/p.go:30: method T.N has no doc comment",
		"p/p.go:39: const K has no doc comment",
		"p/p.go:49: var V2 has no doc comment",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Missing found\n%q\nwant\n%q", got, want)
	}
}

// TestWithoutExampleFindsPackagesWithoutOne: a package whose only example
// prints without an output comment (go test compiles it but does not run
// it) counts as having none; commands and internal packages need none.
func TestWithoutExampleFindsPackagesWithoutOne(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"a/a.go":              "package a\n",
		"a/a_test.go":         "package a\n\nimport \"fmt\"\n\nfunc Example() {\n\tfmt.Println(1)\n\t// Output: 1\n}\n",
		"b/b.go":              "package b\n",
		"b/b_test.go":         "package b\n\nimport \"fmt\"\n\nfunc Example() {\n\tfmt.Println(1)\n}\n",
		"c/c.go":              "package c\n",
		"cmd/main.go":         "package main\n",
		"internal/i/i.go":     "package i\n",
		"d/unordered.go":      "package d\n",
		"d/unordered_test.go": "package d_test\n\nimport \"fmt\"\n\nfunc ExampleT() {\n\tfmt.Println(1)\n\t// Unordered output: 1\n}\n",
	}
	for name, text := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := WithoutExample(dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"b", "c"}; !slices.Equal(got, want) {
		t.Errorf("WithoutExample found %q, want %q", got, want)
	}
}
