package config

import (
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
)

// expand replaces every ${NAME} in s with the environment variable NAME. An unset
// variable is an error (an empty but set one is not); "$${" writes a literal "${".
func expand(s string) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		if i > 0 && s[i-1] == '$' {
			b.WriteString(s[:i-1])
			b.WriteString("${")
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", fmt.Errorf("unterminated ${ in %q", s)
		}
		name := s[i+2 : i+end]
		if !validEnvName(name) {
			return "", fmt.Errorf("invalid environment variable name %q in ${...}", name)
		}
		v, ok := os.LookupEnv(name)
		if !ok {
			return "", fmt.Errorf("environment variable %s is not set", name)
		}
		b.WriteString(v)
		s = s[i+end+1:]
	}
}

func validEnvName(name string) bool {
	if name == "" {
		return false
	}
	for i, c := range name {
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// expandEnv substitutes ${NAME} in every string field below v, reporting each
// failure under the field's key path.
func expandEnv(v reflect.Value, path string, p *problems) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			expandEnv(v.Elem(), path, p)
		}
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			if f.Anonymous && f.Type.Kind() == reflect.Struct && f.Tag.Get("toml") == "" {
				expandEnv(v.Field(i), path, p) // embedded: its keys are this table's
				continue
			}
			if tag := tomlName(f); tag != "" {
				expandEnv(v.Field(i), join(path, tag), p)
			}
		}
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			// Map values are not addressable: expand a copy and store it back.
			elem := reflect.New(iter.Value().Type()).Elem()
			elem.Set(iter.Value())
			expandEnv(elem, join(path, iter.Key().String()), p)
			v.SetMapIndex(iter.Key(), elem)
		}
	case reflect.Interface:
		// Claim rule values: a string, or an array of values.
		switch x := v.Interface().(type) {
		case string:
			s, err := expand(x)
			if err != nil {
				p.add(path, "%v", err)
				return
			}
			v.Set(reflect.ValueOf(s))
		case []any:
			for i := range x {
				elem := reflect.ValueOf(&x[i]).Elem()
				expandEnv(elem, path+"["+strconv.Itoa(i)+"]", p)
			}
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			expandEnv(v.Index(i), path+"["+strconv.Itoa(i)+"]", p)
		}
	case reflect.String:
		s, err := expand(v.String())
		if err != nil {
			p.add(path, "%v", err)
			return
		}
		v.SetString(s)
	}
}

// tomlName is a struct field's TOML key, or "" when it has none.
func tomlName(f reflect.StructField) string {
	tag := f.Tag.Get("toml")
	name, _, _ := strings.Cut(tag, ",")
	if name == "-" {
		return ""
	}
	return name
}
