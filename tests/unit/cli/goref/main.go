// Reference outputs of Go's text/template with the docker CLI's functions,
// for fastctr's tests: reads {"data": ..., "templates": [...]} on stdin and
// prints one JSON object per template: {"out": ...} or {"err": ...}.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
	"text/template"
)

var funcs = template.FuncMap{
	"json": func(v any) string {
		buf := &bytes.Buffer{}
		enc := json.NewEncoder(buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			panic(err)
		}
		return strings.TrimSpace(buf.String())
	},
	"split": strings.Split,
	"join": func(elems any, sep string) (string, error) {
		if elems == nil {
			return "", nil
		}
		if ss, ok := elems.([]string); ok {
			return strings.Join(ss, sep), nil
		}
		switch rv := reflect.ValueOf(elems); rv.Kind() {
		case reflect.Array, reflect.Slice:
			var b strings.Builder
			for i := 0; i < rv.Len(); i++ {
				if i > 0 {
					b.WriteString(sep)
				}
				fmt.Fprint(&b, rv.Index(i).Interface())
			}
			return b.String(), nil
		case reflect.Map:
			var out []string
			for _, k := range rv.MapKeys() {
				out = append(out, fmt.Sprint(rv.MapIndex(k).Interface()))
			}
			sort.Strings(out)
			return strings.Join(out, sep), nil
		default:
			return "", fmt.Errorf("expected slice, got %T", elems)
		}
	},
	"title": strings.Title,
	"lower": strings.ToLower,
	"upper": strings.ToUpper,
	"pad": func(source string, prefix, suffix int) string {
		if source == "" {
			return source
		}
		return strings.Repeat(" ", prefix) + source + strings.Repeat(" ", suffix)
	},
	"truncate": func(source string, length int) string {
		if len(source) < length {
			return source
		}
		return source[:length]
	},
}

// ints: whole JSON numbers become int, as the typed structs docker formats have them
func ints(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = ints(e)
		}
	case []any:
		for i, e := range x {
			x[i] = ints(e)
		}
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return int(i)
		}
		f, _ := x.Float64()
		return f
	}
	return v
}

func main() {
	var in struct {
		Data      json.RawMessage `json:"data"`
		Templates []string        `json:"templates"`
		Missing   string          `json:"missing"`
	}
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		panic(err)
	}
	dec := json.NewDecoder(bytes.NewReader(in.Data))
	dec.UseNumber()
	var data any
	if err := dec.Decode(&data); err != nil {
		panic(err)
	}
	data = ints(data)
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false)
	for _, t := range in.Templates {
		res := map[string]string{}
		tmpl, err := template.New("").Funcs(funcs).Parse(t)
		if err == nil && in.Missing != "" {
			tmpl = tmpl.Option("missingkey=" + in.Missing)
		}
		if err != nil {
			res["err"] = err.Error()
		} else {
			var buf bytes.Buffer
			if err := tmpl.Execute(&buf, data); err != nil {
				res["err"] = err.Error()
			} else {
				res["out"] = buf.String()
			}
		}
		enc.Encode(res)
	}
}
