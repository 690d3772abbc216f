package client

import (
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// queryOf encodes an options struct as query parameters: each field tagged `query:"name"`
// that is not its zero value (strings, ints, bools, times as RFC 3339).
func queryOf(opts any) url.Values {
	q := url.Values{}
	v := reflect.ValueOf(opts)
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return q
		}
		v = v.Elem()
	}
	t := v.Type()
	for i := range t.NumField() {
		name, ok := t.Field(i).Tag.Lookup("query")
		if !ok || v.Field(i).IsZero() {
			continue
		}
		switch f := v.Field(i).Interface().(type) {
		case string:
			q.Set(name, f)
		case int:
			q.Set(name, strconv.Itoa(f))
		case bool:
			q.Set(name, strconv.FormatBool(f))
		case time.Time:
			q.Set(name, f.UTC().Format(time.RFC3339Nano))
		default:
			q.Set(name, strings.TrimSpace(reflect.ValueOf(f).String()))
		}
	}
	return q
}
