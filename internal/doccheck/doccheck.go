// Package doccheck finds exported names that have no doc comment, and
// packages that have no runnable example, so that a test can hold a module
// to godoc on every exported name and an example in every package. It is
// for tests only and uses nothing outside the standard library, so every module of the
// repository can call it without new requirements.
//
// What counts as documented follows what godoc shows:
//
//   - a package needs a package comment in at least one of its files;
//   - an exported type, function, or method on an exported type needs a doc
//     comment of its own (a type in a parenthesized group of one may use
//     the group's);
//   - an exported constant or variable needs a doc comment, a line comment,
//     or a doc comment on its parenthesized group;
//   - an exported field of an exported struct type needs a doc comment or a
//     line comment; a doc comment above a field also covers the fields on
//     the lines right below it, up to the first blank line, as
//     godoc shows them together; embedded fields need neither;
//   - a method of an exported interface type needs a doc comment or a line
//     comment, unless the type's doc comment names it (and so says what it
//     does, as the docs of the one-method interfaces do).
package doccheck

import (
	"fmt"
	"go/ast"
	"go/doc"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// Missing parses every non-test Go file under root, skipping testdata
// directories, directories whose name starts with "." or "_", and
// directories that hold a go.mod of their own (another module), and returns
// one line "file:line: what" for each exported name that lacks a doc
// comment, sorted by file and line. File names are relative to root. It
// returns an error only if a directory cannot be read or a file does not
// parse.
func Missing(root string) ([]string, error) {
	var out []finding
	err := packageDirs(root, false, func(dir string) error {
		found, err := checkDir(root, dir)
		out = append(out, found...)
		return err
	})
	sort.Slice(out, func(i, j int) bool {
		if out[i].file != out[j].file {
			return out[i].file < out[j].file
		}
		return out[i].line < out[j].line
	})
	lines := make([]string, len(out))
	for i, f := range out {
		lines[i] = fmt.Sprintf("%s:%d: %s", f.file, f.line, f.what)
	}
	return lines, err
}

// packageDirs calls visit for root and every directory below it that
// belongs to root's module: it skips testdata directories, directories
// whose name starts with "." or "_", directories that hold a go.mod of
// their own (another module) and, if noInternal, directories named
// internal. It stops at the first error visit or the walk returns.
func packageDirs(root string, noInternal bool, visit func(dir string) error) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if path != root {
			name := d.Name()
			if name == "testdata" || noInternal && name == "internal" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
				return filepath.SkipDir
			}
		}
		return visit(path)
	})
}

// finding is one name without a doc comment.
type finding struct {
	file string
	line int
	what string
}

// checkDir checks the package (or packages) of one directory.
func checkDir(root, dir string) ([]finding, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	type pkg struct {
		first  string // the file the package clause is reported against
		hasDoc bool
	}
	pkgs := map[string]*pkg{}
	var out []finding
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		path := filepath.Join(dir, name)
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		if err != nil {
			return out, err
		}
		if ast.IsGenerated(f) {
			continue
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			rel = path
		}
		rel = filepath.ToSlash(rel)
		p := pkgs[f.Name.Name]
		if p == nil {
			p = &pkg{first: rel}
			pkgs[f.Name.Name] = p
		}
		if f.Doc != nil {
			p.hasDoc = true
		}
		c := checker{fset: fset, file: rel}
		c.file1(f)
		out = append(out, c.out...)
	}
	for name, p := range pkgs {
		if !p.hasDoc {
			out = append(out, finding{p.first, 1, "package " + name + " has no package comment"})
		}
	}
	return out, nil
}

// checker collects the findings of one file.
type checker struct {
	fset *token.FileSet
	file string
	out  []finding
}

func (c *checker) report(pos token.Pos, format string, args ...any) {
	c.out = append(c.out, finding{c.file, c.fset.Position(pos).Line, fmt.Sprintf(format, args...)})
}

func (c *checker) file1(f *ast.File) {
	for _, decl := range f.Decls {
		switch d := decl.(type) {
		case *ast.FuncDecl:
			c.funcDecl(d)
		case *ast.GenDecl:
			c.genDecl(d)
		}
	}
}

func (c *checker) funcDecl(d *ast.FuncDecl) {
	if !d.Name.IsExported() {
		return
	}
	what := "func " + d.Name.Name
	if d.Recv != nil && len(d.Recv.List) > 0 {
		recv := recvName(d.Recv.List[0].Type)
		if !ast.IsExported(recv) {
			return
		}
		what = "method " + recv + "." + d.Name.Name
	}
	if d.Doc == nil {
		c.report(d.Pos(), "%s has no doc comment", what)
	}
}

// recvName returns the name of a receiver's base type.
func recvName(e ast.Expr) string {
	for {
		switch t := e.(type) {
		case *ast.StarExpr:
			e = t.X
		case *ast.ParenExpr:
			e = t.X
		case *ast.IndexExpr:
			e = t.X
		case *ast.IndexListExpr:
			e = t.X
		case *ast.Ident:
			return t.Name
		default:
			return ""
		}
	}
}

func (c *checker) genDecl(d *ast.GenDecl) {
	switch d.Tok {
	case token.TYPE:
		for _, s := range d.Specs {
			ts := s.(*ast.TypeSpec)
			if !ts.Name.IsExported() {
				continue
			}
			doc := ts.Doc
			if doc == nil && len(d.Specs) == 1 {
				doc = d.Doc
			}
			if doc == nil {
				c.report(ts.Pos(), "type %s has no doc comment", ts.Name.Name)
			}
			c.members(ts.Name.Name, doc.Text(), ts.Type)
		}
	case token.CONST, token.VAR:
		kind := d.Tok.String()
		for _, s := range d.Specs {
			vs := s.(*ast.ValueSpec)
			if vs.Doc != nil || vs.Comment != nil || d.Doc != nil {
				continue
			}
			for _, n := range vs.Names {
				if n.IsExported() {
					c.report(n.Pos(), "%s %s has no doc comment", kind, n.Name)
				}
			}
		}
	}
}

// members checks the exported fields of a struct type and the methods of an
// interface type named owner, whose doc comment is doc, and of the struct
// types nested in them.
func (c *checker) members(owner, doc string, e ast.Expr) {
	switch t := e.(type) {
	case *ast.StructType:
		covered := false // a doc comment above covers this field
		prevEnd := 0     // the last line of the previous field
		for _, f := range t.Fields.List {
			line := c.fset.Position(f.Pos()).Line
			switch {
			case f.Doc != nil:
				covered = true
			case line != prevEnd+1:
				covered = false
			}
			prevEnd = c.fset.Position(f.End()).Line
			if len(f.Names) == 0 {
				continue // embedded
			}
			exported := false
			for _, n := range f.Names {
				if n.IsExported() {
					exported = true
					if !covered && f.Comment == nil {
						c.report(n.Pos(), "field %s.%s has no doc comment", owner, n.Name)
					}
				}
			}
			if exported {
				c.members(owner+"."+f.Names[0].Name, "", f.Type)
			}
		}
	case *ast.InterfaceType:
		for _, m := range t.Methods.List {
			for _, n := range m.Names {
				if !n.IsExported() || m.Doc != nil || m.Comment != nil || mentions(doc, n.Name) {
					continue
				}
				c.report(n.Pos(), "method %s.%s has no doc comment", owner, n.Name)
			}
		}
	case *ast.StarExpr:
		c.members(owner, "", t.X)
	case *ast.ArrayType:
		c.members(owner, "", t.Elt)
	case *ast.MapType:
		c.members(owner, "", t.Value)
	}
}

// mentions reports whether text names name as a word of its own.
func mentions(text, name string) bool {
	for _, w := range strings.FieldsFunc(text, func(r rune) bool {
		return !(r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}) {
		if w == name {
			return true
		}
	}
	return false
}

// WithoutExample walks root as [Missing] does and returns, sorted, the
// directory (relative to root, "." for root itself) of each package that
// has no runnable example: no Example function in its test files with an
// output comment ("// Output:" or "// Unordered output:"), so that go
// test runs it and checks what it prints. Commands (package main) and
// packages under a directory named internal are left out, as godoc shows
// neither to users of the module.
func WithoutExample(root string) ([]string, error) {
	var out []string
	err := packageDirs(root, true, func(dir string) error {
		lib, runnable, err := examplesOf(dir)
		if err != nil {
			return err
		}
		if lib && !runnable {
			rel, err := filepath.Rel(root, dir)
			if err != nil {
				rel = dir
			}
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	sort.Strings(out)
	return out, err
}

// examplesOf reports whether dir holds a package other than a command,
// and whether its test files hold a runnable example.
func examplesOf(dir string) (lib, runnable bool, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false, false, err
	}
	fset := token.NewFileSet()
	var tests []*ast.File
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.ParseComments)
		if err != nil {
			return false, false, err
		}
		switch {
		case strings.HasSuffix(name, "_test.go"):
			tests = append(tests, f)
		case f.Name.Name != "main":
			lib = true
		}
	}
	for _, ex := range doc.Examples(tests...) {
		if ex.Output != "" || ex.EmptyOutput {
			runnable = true
		}
	}
	return lib, runnable, nil
}

// TestDocs fails t with one error for each exported name under root that
// lacks a doc comment (see [Missing]), as a module's doc test calls it
// with its own root.
func TestDocs(t testing.TB, root string) {
	t.Helper()
	missing, err := Missing(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range missing {
		t.Error(m)
	}
}

// TestExamples fails t with one error for each package under root that
// has no runnable example (see [WithoutExample]).
func TestExamples(t testing.TB, root string) {
	t.Helper()
	without, err := WithoutExample(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range without {
		t.Errorf("package %s has no runnable example", dir)
	}
}
