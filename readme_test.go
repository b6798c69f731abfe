package crdt_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// goNames lists the exported names of the module's packages: byPkg maps a
// package's name to its top-level names, members maps a type's name to
// the names of its fields and methods, and all holds every name of both.
type goNames struct {
	byPkg   map[string]map[string]bool
	members map[string]map[string]bool
	all     map[string]bool
}

func moduleNames(t *testing.T) goNames {
	t.Helper()
	n := goNames{byPkg: map[string]map[string]bool{}, members: map[string]map[string]bool{}, all: map[string]bool{}}
	add := func(m map[string]map[string]bool, k, name string) {
		if m[k] == nil {
			m[k] = map[string]bool{}
		}
		m[k][name] = true
		n.all[name] = true
	}
	fset := token.NewFileSet()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != "." && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil && path != "." {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		pkg := f.Name.Name
		add(n.byPkg, pkg, "") // the package exists
		for _, decl := range f.Decls {
			switch d := decl.(type) {
			case *ast.FuncDecl:
				if !d.Name.IsExported() {
					continue
				}
				if d.Recv == nil {
					add(n.byPkg, pkg, d.Name.Name)
					continue
				}
				typ := d.Recv.List[0].Type
				for {
					switch x := typ.(type) {
					case *ast.StarExpr:
						typ = x.X
						continue
					case *ast.IndexExpr:
						typ = x.X
						continue
					case *ast.IndexListExpr:
						typ = x.X
						continue
					}
					break
				}
				if id, ok := typ.(*ast.Ident); ok {
					add(n.members, id.Name, d.Name.Name)
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.ValueSpec:
						for _, id := range s.Names {
							if id.IsExported() {
								add(n.byPkg, pkg, id.Name)
							}
						}
					case *ast.TypeSpec:
						if !s.Name.IsExported() {
							continue
						}
						add(n.byPkg, pkg, s.Name.Name)
						var fields []*ast.Field
						switch x := s.Type.(type) {
						case *ast.StructType:
							fields = x.Fields.List
						case *ast.InterfaceType:
							fields = x.Methods.List
						}
						for _, f := range fields {
							for _, id := range f.Names {
								add(n.members, s.Name.Name, id.Name)
							}
						}
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestReadmeNamesExist: every Go name README.md puts in code (a type, a
// function, a method or field as Type.Name, a package's name as pkg.Name,
// a package) and every path of the repository it names exists, so that a
// renamed or removed name does not leave the README promising it.
func TestReadmeNamesExist(t *testing.T) {
	text, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	n := moduleNames(t)
	ident := regexp.MustCompile(`^([A-Za-z][A-Za-z0-9]*)(?:\.([A-Z][A-Za-z0-9]*))?(?:\[[^\]]*\]|\([^)]*\))?$`)
	path := regexp.MustCompile(`^\.?[a-z]+(?:/[a-z]+)+$`)
	code := regexp.MustCompile("`([^`\n]+)`")
	checked := 0
	for _, m := range code.FindAllStringSubmatch(string(text), -1) {
		tok := m[1]
		if path.MatchString(tok) {
			if _, err := os.Stat(tok); err != nil {
				t.Errorf("README.md names %s, which is not in the repository", tok)
			}
			checked++
			continue
		}
		p := ident.FindStringSubmatch(tok)
		if p == nil {
			continue
		}
		a, b := p[1], p[2]
		switch {
		case b != "" && n.byPkg[a] != nil:
			if !n.byPkg[a][b] {
				t.Errorf("README.md names %s: package %s has no %s", tok, a, b)
			}
		case b != "":
			if !n.members[a][b] {
				t.Errorf("README.md names %s: %s has no field or method %s", tok, a, b)
			}
		case a[0] >= 'A' && a[0] <= 'Z':
			if !n.all[a] {
				t.Errorf("README.md names %s, which no package of the module exports", tok)
			}
		case n.byPkg[a] != nil:
			// a package
		default:
			continue // a Go word (int8, any) or a variable of an example
		}
		checked++
	}
	if checked < 50 {
		t.Errorf("checked %d names in README.md; the pattern no longer finds them", checked)
	}
}

// TestReadmeFuzzCounts: the README's account of continuous integration
// gives the numbers of fuzz executions .ci/run makes.
func TestReadmeFuzzCounts(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile(".ci/run")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"FUZZTIME", "COST_FUZZTIME"} {
		m := regexp.MustCompile(`(?m)^` + v + `="\$\{` + v + `:-([0-9]+)x\}"`).FindSubmatch(script)
		if m == nil {
			t.Fatalf(".ci/run sets no default %s of executions", v)
		}
		n := string(m[1])
		for i := len(n) - 3; i > 0; i -= 3 {
			n = n[:i] + "," + n[i:]
		}
		if !strings.Contains(string(readme), n+" ") {
			t.Errorf(".ci/run runs fuzz targets %s times by default (%s); README.md does not say %s", m[1], v, n)
		}
	}
}
