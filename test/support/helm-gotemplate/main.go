// A second renderer of the sconify chart, for the tests: Go's text/template with the Sprig functions,
// set up as Helm's engine sets them up (helm.sh/helm/v3/pkg/engine: every file of templates/ parsed
// into one set, missingkey=zero, Sprig's TxtFuncMap without env/expandenv, include, required, toYaml,
// and "<no value>" removed from the output). The tests render the same chart with it and with
// lib/image/helm/template-engine.ts and compare the objects, so the chart's templates are checked
// against the template language Helm really runs, without the helm binary.
//
//   helm-gotemplate <chart-dir> <values.json> <release-name>   → JSON {template path: rendered text}
//
// Built in GOPATH mode against Debian's packages (golang-go, golang-github-masterminds-sprig-dev,
// golang-gopkg-yaml.v3-dev: test/support/helm-template.ts does it), hence the import path without /v3.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"gopkg.in/yaml.v3"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: helm-gotemplate <chart-dir> <values.json> <release-name>")
		os.Exit(2)
	}
	chartDir, valuesFile, release := os.Args[1], os.Args[2], os.Args[3]
	out, err := render(chartDir, valuesFile, release)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Stdout.Write(out)
}

func render(chartDir, valuesFile, release string) ([]byte, error) {
	var values map[string]interface{}
	raw, err := os.ReadFile(valuesFile)
	if err != nil {
		return nil, err
	}
	// Helm reads values.yaml into float64 numbers (through JSON): so does this.
	if err := json.Unmarshal(raw, &values); err != nil {
		return nil, err
	}
	var chart struct {
		Name    string `yaml:"name"`
		Version string `yaml:"version"`
	}
	chartYaml, err := os.ReadFile(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		return nil, err
	}
	if err := yaml.Unmarshal(chartYaml, &chart); err != nil {
		return nil, err
	}
	data := map[string]interface{}{
		"Values":  values,
		"Release": map[string]interface{}{"Name": release, "Namespace": "default", "Service": "Helm", "IsInstall": true, "IsUpgrade": false, "Revision": 1},
		"Chart":   map[string]interface{}{"Name": chart.Name, "Version": chart.Version},
	}

	t := template.New("gotpl").Option("missingkey=zero")
	funcs := sprig.TxtFuncMap()
	delete(funcs, "env")
	delete(funcs, "expandenv")
	funcs["toYaml"] = func(v interface{}) string {
		b, err := yaml.Marshal(v)
		if err != nil {
			return ""
		}
		return strings.TrimSuffix(string(b), "\n")
	}
	funcs["include"] = func(name string, data interface{}) (string, error) {
		var buf bytes.Buffer
		err := t.ExecuteTemplate(&buf, name, data)
		return buf.String(), err
	}
	funcs["required"] = func(warn string, val interface{}) (interface{}, error) {
		if val == nil || val == "" {
			return val, errors.New(warn)
		}
		return val, nil
	}
	t.Funcs(funcs)

	var names []string
	err = filepath.Walk(filepath.Join(chartDir, "templates"), func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(chartDir, path)
		text, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if _, err := t.New(rel).Parse(string(text)); err != nil {
			return err
		}
		names = append(names, rel)
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	rendered := map[string]string{}
	for _, name := range names {
		if strings.HasPrefix(filepath.Base(name), "_") {
			continue
		}
		var buf bytes.Buffer
		if err := t.ExecuteTemplate(&buf, name, data); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		rendered[name] = strings.ReplaceAll(buf.String(), "<no value>", "")
	}
	return json.Marshal(rendered)
}
