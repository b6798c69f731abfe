package main

import (
	"os"
	"regexp"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// metricName matches a metric name of this app as the READMEs spell one.
var metricName = regexp.MustCompile(`\b(?:crdt|todo)_[a-z_]*[a-z]\b`)

// TestReadmeMetricsExist: every crdt_* and todo_* metric name that this
// app's README or the library's README names is one /metrics serves, and
// the Metrics section of this app's README names every metric /metrics
// serves, so that neither a renamed metric nor a new one leaves the README
// behind.
func TestReadmeMetricsExist(t *testing.T) {
	ch := make(chan *prometheus.Desc)
	go func() {
		newMetrics(&region{}).Describe(ch)
		close(ch)
	}()
	served := map[string]bool{}
	descName := regexp.MustCompile(`fqName: "([^"]+)"`)
	for d := range ch {
		m := descName.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("no name in %s", d)
		}
		served[m[1]] = true
	}

	named := map[string]bool{}
	for _, file := range []string{"README.md", "../../README.md"} {
		text, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range metricName.FindAllString(string(text), -1) {
			named[name] = true
			if !served[name] {
				t.Errorf("%s names %s, which /metrics does not serve", file, name)
			}
		}
	}
	var undocumented []string
	for name := range served {
		if !named[name] {
			undocumented = append(undocumented, name)
		}
	}
	slices.Sort(undocumented)
	for _, name := range undocumented {
		t.Errorf("/metrics serves %s, which README.md does not name", name)
	}
}
