package httpapi

import (
	"io"
	"maps"

	"github.com/danielgtaylor/huma/v2"

	"github.com/promptd/promptd"
)

// jsonFormat is huma's JSON format with a shortcut for an event that encodes itself
// (promptd.Event.AppendJSON), as every publish answers with one: the same bytes, without
// encoding/json's second pass over a payload known to be compact.
var jsonFormat = huma.Format{
	Marshal: func(w io.Writer, v any) error {
		if ev, ok := v.(*promptd.Event); ok && ev != nil {
			if b, ok := ev.AppendJSON(make([]byte, 0, 256+len(ev.Payload))); ok {
				_, err := w.Write(append(b, '\n')) // as json.Encoder ends a value
				return err
			}
		}
		return huma.DefaultJSONFormat.Marshal(w, v)
	},
	Unmarshal: huma.DefaultJSONFormat.Unmarshal,
}

// withJSONFormat returns formats with jsonFormat for JSON, leaving formats (huma's shared
// defaults) as they are.
func withJSONFormat(formats map[string]huma.Format) map[string]huma.Format {
	out := maps.Clone(formats)
	out["application/json"] = jsonFormat
	out["json"] = jsonFormat
	return out
}
