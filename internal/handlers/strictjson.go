package handlers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
)

// checkStrictJSON walks body (already known to be one valid JSON value)
// against the Go type the generated decoder will fill, and refuses what
// encoding/json would silently accept: a key given twice in one object
// (encoding/json keeps the last) and a key that matches a field only when
// case is ignored (encoding/json folds case, so {"ADDRESS": ...} would set
// address). Keys that match no field at all are still ignored, as the
// contract allows. encoding/json/v2 rejects both by default; until it is
// out of its experiment, this walk does it for v1.
func checkStrictJSON(body []byte, t reflect.Type) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	return walkJSON(dec, t, "")
}

func walkJSON(dec *json.Decoder, t reflect.Type, path string) error {
	tok, err := dec.Token()
	if err != nil {
		return &BodyError{Reason: "not a single JSON value"}
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch tok {
	case json.Delim('{'):
		fields := jsonFields(t)
		seen := make(map[string]bool)
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return &BodyError{Reason: "not a single JSON value"}
			}
			k, _ := kt.(string)
			if seen[k] {
				return &BodyError{Reason: fmt.Sprintf("%s: key %q appears twice", where(path), k)}
			}
			seen[k] = true
			ft, known := fields[k]
			if !known {
				if canon := foldMatch(fields, k); canon != "" {
					return &BodyError{Reason: fmt.Sprintf("%s: key %q: field names are case-sensitive; the field is %q", where(path), k, canon)}
				}
			}
			if err := walkJSON(dec, ft, joinPath(path, k)); err != nil {
				return err
			}
		}
		_, err = dec.Token() // '}'
	case json.Delim('['):
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for i := 0; dec.More(); i++ {
			if err := walkJSON(dec, elem, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		_, err = dec.Token() // ']'
	}
	if err != nil {
		return &BodyError{Reason: "not a single JSON value"}
	}
	return nil
}

func where(path string) string {
	if path == "" {
		return "top level"
	}
	return path
}

func joinPath(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func foldMatch(fields map[string]reflect.Type, k string) string {
	for name := range fields {
		if strings.EqualFold(name, k) {
			return name
		}
	}
	return ""
}

var fieldCache sync.Map // reflect.Type -> map[string]reflect.Type

// jsonFields maps the JSON names of a struct's fields to their types, as
// encoding/json names them; nil for anything that is not a struct.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string]reflect.Type)
	}
	m := make(map[string]reflect.Type)
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = f.Name
		}
		m[name] = f.Type
	}
	fieldCache.Store(t, m)
	return m
}
