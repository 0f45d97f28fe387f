package gateway

import (
	"bufio"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/partita/partita/libs/contracts"
)

// TestErrorTableListsEveryCode compares docs/api.md's error table with
// contracts.ProblemCodes both ways: every (status, code) the server can
// send is documented, and the table lists nothing it never sends.
func TestErrorTableListsEveryCode(t *testing.T) {
	documented := documentedProblemCodes(t, "../../docs/api.md")
	sent := map[contracts.ProblemCode]bool{}
	for _, pc := range contracts.ProblemCodes {
		if sent[pc] {
			t.Errorf("contracts.ProblemCodes lists %d %s twice", pc.Status, pc.Code)
		}
		sent[pc] = true
		if !documented[pc] {
			t.Errorf("the server sends %d %s, but docs/api.md's error table does not list it", pc.Status, pc.Code)
		}
	}
	for pc := range documented {
		if !sent[pc] {
			t.Errorf("docs/api.md's error table lists %d %s, which is not in contracts.ProblemCodes (the server never sends it)", pc.Status, pc.Code)
		}
	}
	if len(documented) < 40 {
		t.Fatalf("read %d codes from docs/api.md's error table: the table's form changed", len(documented))
	}
}

// TestProblemCodesComeFromContracts reads the gateway's and ingest's
// sources: a string literal equal to a problem code is a code written
// outside contracts, one ProblemCodes and the docs would not know of when
// it changes. Codes are spelled as contracts' constants.
func TestProblemCodesComeFromContracts(t *testing.T) {
	codes := map[string]bool{}
	for _, pc := range contracts.ProblemCodes {
		codes[pc.Code] = true
	}
	files := sourceFiles(t)
	for _, sf := range files {
		fset, f := sf.fset, sf.file
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			if v, err := strconv.Unquote(lit.Value); err == nil && codes[v] {
				t.Errorf("%s: the problem code %q as a literal: use contracts' constant", fset.Position(lit.Pos()), v)
			}
			return true
		})
	}
	if len(files) < 10 {
		t.Fatalf("read %d source files: the test looks in the wrong place", len(files))
	}
}

// TestEveryProblemSentIsListed reads the gateway's and ingest's sources
// for the (status, code) pairs they answer with — a call or a literal
// naming an http.Status constant and a contracts.Code one side by side,
// or `p.Status, p.Code = …` — and requires each in contracts.ProblemCodes,
// so a new pair in the code cannot miss the table docs/api.md is checked
// against.
func TestEveryProblemSentIsListed(t *testing.T) {
	codes := constStrings(t, "../../libs/contracts/problems.go")
	listed := map[contracts.ProblemCode]bool{}
	for _, pc := range contracts.ProblemCodes {
		listed[pc] = true
	}
	pairs := 0
	for _, sf := range sourceFiles(t) {
		fset, f := sf.fset, sf.file
		check := func(at token.Pos, status, code ast.Expr) {
			st, sok := httpStatus(status)
			c, cok := contractsCode(codes, code)
			if !sok || !cok {
				return
			}
			pairs++
			if !listed[contracts.ProblemCode{Status: st, Code: c}] {
				t.Errorf("%s: answers %d %s, which contracts.ProblemCodes (and docs/api.md) do not list", fset.Position(at), st, c)
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				for i := 0; i+1 < len(n.Args); i++ {
					check(n.Pos(), n.Args[i], n.Args[i+1])
				}
			case *ast.CompositeLit:
				var status, code ast.Expr
				for _, e := range n.Elts {
					if kv, ok := e.(*ast.KeyValueExpr); ok {
						switch key, _ := kv.Key.(*ast.Ident); {
						case key == nil:
						case key.Name == "Status":
							status = kv.Value
						case key.Name == "Code":
							code = kv.Value
						}
					}
				}
				if status != nil && code != nil {
					check(n.Pos(), status, code)
				}
			case *ast.AssignStmt:
				if len(n.Lhs) >= 2 && len(n.Rhs) == len(n.Lhs) {
					check(n.Pos(), n.Rhs[0], n.Rhs[1])
				}
			}
			return true
		})
	}
	if pairs < 60 {
		t.Fatalf("found %d (status, code) pairs in the sources: the test no longer reads how they are written", pairs)
	}
}

// sourceFile is a parsed source file.
type sourceFile struct {
	fset *token.FileSet
	file *ast.File
}

// sourceFiles are the gateway's and ingest's sources but their tests:
// the code that answers problems.
func sourceFiles(t *testing.T) []sourceFile {
	t.Helper()
	var out []sourceFile
	for _, dir := range []string{".", "../ingest"} {
		paths, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range paths {
			if strings.HasSuffix(path, "_test.go") {
				continue
			}
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, sourceFile{fset, f})
		}
	}
	return out
}

// constStrings are the string constants a file declares, by name.
func constStrings(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok {
			return true
		}
		for i, name := range vs.Names {
			if i < len(vs.Values) {
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					out[name.Name], _ = strconv.Unquote(lit.Value)
				}
			}
		}
		return true
	})
	return out
}

// httpStatus is the value of http.StatusXxx, read from its name through
// http.StatusText.
func httpStatus(e ast.Expr) (int, bool) {
	sel, ok := e.(*ast.SelectorExpr)
	if !ok || !strings.HasPrefix(sel.Sel.Name, "Status") {
		return 0, false
	}
	if x, ok := sel.X.(*ast.Ident); !ok || x.Name != "http" {
		return 0, false
	}
	for code := 100; code < 600; code++ {
		name := strings.NewReplacer(" ", "", "-", "", "'", "").Replace(http.StatusText(code))
		if name != "" && "Status"+name == sel.Sel.Name {
			return code, true
		}
	}
	return 0, false
}

// contractsCode is the value of contracts.CodeXxx.
func contractsCode(codes map[string]string, e ast.Expr) (string, bool) {
	sel, ok := e.(*ast.SelectorExpr)
	if !ok || !strings.HasPrefix(sel.Sel.Name, "Code") {
		return "", false
	}
	if x, ok := sel.X.(*ast.Ident); !ok || x.Name != "contracts" {
		return "", false
	}
	c, ok := codes[sel.Sel.Name]
	return c, ok
}

var (
	tableRow      = regexp.MustCompile(`^\| (\d{3}) \| (.*) \|$`)
	parenthesized = regexp.MustCompile(`\([^()]*\)`)
	backticked    = regexp.MustCompile("`([a-z][a-z0-9_]*)`")
)

// documentedProblemCodes reads the "## Errors" table of docs/api.md: per
// row a status and its codes, the backticked words outside parentheses
// (what is in parentheses says when, and may quote other names).
func documentedProblemCodes(t *testing.T, path string) map[contracts.ProblemCode]bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[contracts.ProblemCode]bool{}
	var statuses []int
	inErrors := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") {
			inErrors = line == "## Errors"
			continue
		}
		m := tableRow.FindStringSubmatch(line)
		if !inErrors || m == nil {
			continue
		}
		status, _ := strconv.Atoi(m[1])
		if slices.Contains(statuses, status) {
			t.Errorf("docs/api.md's error table has two rows for %d", status)
		}
		statuses = append(statuses, status)
		for _, c := range backticked.FindAllStringSubmatch(parenthesized.ReplaceAllString(m[2], ""), -1) {
			out[contracts.ProblemCode{Status: status, Code: c[1]}] = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if !slices.IsSorted(statuses) {
		t.Errorf("docs/api.md's error table is not in the order of its statuses: %v", statuses)
	}
	return out
}
