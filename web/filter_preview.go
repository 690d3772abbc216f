package web

import (
	"net/http"
	"slices"

	"github.com/promptd/promptd"
)

// filterPreviewData is the filter preview fragment of the webhook form: the events tried
// and whether each matches, or why the settings cannot be tried.
type filterPreviewData struct {
	Result *promptd.FilterPreviewResult
	// Field and Error name the setting that is not valid (Field as the form labels it).
	Field, Error string
}

// previewFieldLabels are the form's labels of the fields a preview can reject.
var previewFieldLabels = map[string]string{
	"body.events": "Custom event types and wildcards", "body.filters.promptNames": "Prompt names",
	"body.filters.labels": "Labels", "body.filters.tags": "Tags", "body.filter": "Filter expression",
}

// previewFilter tries the routing settings typed in the webhook form on the project's most
// recent events (an htmx fragment): "Test this filter on recent events". Invalid settings
// are shown in the fragment, naming the field, with a 200 so that htmx swaps it in.
func (s *server) previewFilter(w http.ResponseWriter, r *http.Request) {
	sess := sessionFrom(r.Context())
	f := readWebhookForm(r)
	p := promptd.FilterPreview{
		Events:  append(slices.Clone(f.Events), splitList(f.CustomEvents)...),
		Filters: promptd.Filters{PromptNames: splitList(f.PromptNames), Labels: splitList(f.Labels), Tags: splitList(f.Tags)},
		Filter:  normalizeNewlines(f.Filter),
	}
	res, err := promptd.PreviewRecentEvents(r.Context(), s.store, sess.key.ProjectID, &p)
	if promptd.ErrorKind(err) == promptd.EINVALID {
		field := promptd.ErrorField(err)
		if l, ok := previewFieldLabels[field]; ok {
			field = l
		}
		s.renderFragment(w, r, "webhook_form.html", "filter-preview", filterPreviewData{Field: field, Error: promptd.ErrorMessage(err)})
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.renderFragment(w, r, "webhook_form.html", "filter-preview", filterPreviewData{Result: res})
}
