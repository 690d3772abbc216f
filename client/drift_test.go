package client

import (
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/promptd/promptd"
)

// apiOperation is how the client covers one API operation: the method, and the Go types
// of its query parameters, request body and JSON answer (nil where it has none).
type apiOperation struct {
	method   string
	query    any
	body     any
	response any
}

// apiOperations maps every operationId of /api/openapi.json to the client. When the API
// gains an operation, a parameter or a field, TestClientMatchesOpenAPI fails until the
// client and this table follow.
var apiOperations = map[string]apiOperation{
	"create-prompt-version":   {"CreateVersion", nil, CreateVersionRequest{}, promptd.Version{}},
	"list-prompts":            {"ListPrompts", ListPromptsOptions{}, nil, promptd.Page[promptd.Prompt]{}},
	"get-prompt":              {"GetVersion", VersionSelector{}, nil, promptd.Version{}},
	"update-prompt":           {"UpdatePrompt", nil, UpdatePromptRequest{}, promptd.Prompt{}},
	"delete-prompt":           {"DeletePrompt", nil, nil, nil},
	"list-prompt-versions":    {"ListVersions", PageOptions{}, nil, promptd.Page[promptd.Version]{}},
	"set-version-labels":      {"SetLabels", nil, setLabelsRequest{}, promptd.Version{}},
	"delete-prompt-version":   {"DeleteVersion", nil, nil, nil},
	"diff-prompt-versions":    {"DiffVersions", diffOptions{}, nil, promptd.VersionDiff{}},
	"publish-event":           {"PublishEvent", nil, PublishEventRequest{}, promptd.Event{}},
	"list-events":             {"ListEvents", ListEventsOptions{}, nil, promptd.Page[promptd.Event]{}},
	"get-event":               {"GetEvent", nil, nil, promptd.Event{}},
	"create-webhook":          {"CreateWebhook", nil, CreateWebhookRequest{}, CreatedWebhook{}},
	"list-webhooks":           {"ListWebhooks", PageOptions{}, nil, promptd.Page[Webhook]{}},
	"get-webhook":             {"GetWebhook", nil, nil, Webhook{}},
	"update-webhook":          {"UpdateWebhook", nil, UpdateWebhookRequest{}, Webhook{}},
	"delete-webhook":          {"DeleteWebhook", nil, nil, nil},
	"get-webhook-secret":      {"GetWebhookSecret", nil, nil, WebhookSecrets{}},
	"rotate-webhook-secret":   {"RotateWebhookSecret", nil, RotateSecretRequest{}, RotatedWebhook{}},
	"test-webhook":            {"DryRunWebhook", nil, DryRunRequest{}, TestResult{}},
	"preview-webhook-filter":  {"PreviewWebhookFilter", nil, promptd.FilterPreview{}, promptd.FilterPreviewResult{}},
	"recover-webhook":         {"RecoverWebhook", nil, recoverRequest{}, recoverResult{}},
	"get-webhook-stats":       {"GetWebhookStats", webhookStatsOptions{}, nil, WebhookStats{}},
	"list-deliveries":         {"ListDeliveries", ListDeliveriesOptions{}, nil, promptd.Page[promptd.Delivery]{}},
	"get-delivery":            {"GetDelivery", nil, nil, promptd.Delivery{}},
	"resend-delivery":         {"ResendDelivery", nil, nil, promptd.Delivery{}},
	"create-project":          {"CreateProject", nil, createProjectRequest{}, promptd.Project{}},
	"list-projects":           {"ListProjects", nil, nil, promptd.Page[promptd.Project]{}},
	"create-api-key":          {"CreateAPIKey", nil, CreateAPIKeyRequest{}, CreatedAPIKey{}},
	"list-api-keys":           {"ListAPIKeys", nil, nil, promptd.Page[promptd.APIKey]{}},
	"delete-api-key":          {"DeleteAPIKey", nil, nil, nil},
	"whoami":                  {"Whoami", nil, nil, Identity{}},
	"healthz":                 {"Healthz", nil, nil, Health{}},
	"readyz":                  {"Readyz", nil, nil, Health{}},
	"get-protected-labels":    {"GetProtectedLabels", nil, nil, promptd.ReleasePolicy{}},
	"set-protected-labels":    {"SetProtectedLabels", nil, ReleasePolicy{}, promptd.ReleasePolicy{}},
	"request-promotion":       {"RequestPromotion", nil, PromotionRequest{}, promptd.Promotion{}},
	"list-prompt-promotions":  {"ListPromptPromotions", promptPromotionsOptions{}, nil, promptd.Page[promptd.Promotion]{}},
	"list-promotions":         {"ListPromotions", ListPromotionsOptions{}, nil, promptd.Page[promptd.Promotion]{}},
	"get-promotion":           {"GetPromotion", nil, nil, promptd.Promotion{}},
	"approve-promotion":       {"ApprovePromotion", nil, decisionRequest{}, promptd.Promotion{}},
	"reject-promotion":        {"RejectPromotion", nil, decisionRequest{}, promptd.Promotion{}},
	"cancel-promotion":        {"CancelPromotion", nil, decisionRequest{}, promptd.Promotion{}},
	"start-evaluation":        {"StartEvaluation", nil, EvaluationRequest{}, promptd.Evaluation{}},
	"list-evaluations":        {"ListEvaluations", nil, nil, evaluationList{}},
	"get-evaluation":          {"GetEvaluation", nil, nil, promptd.Evaluation{}},
	"finish-evaluation":       {"FinishEvaluation", nil, EvaluationResult{}, promptd.Evaluation{}},
	"list-slack-connections":  {"ListSlackConnections", nil, nil, SlackConnections{}},
	"list-slack-channels":     {"ListSlackChannels", SlackChannelsOptions{}, nil, SlackChannels{}},
	"delete-slack-connection": {"DeleteSlackConnection", nil, nil, slackDisconnected{}},
}

// openAPIDoc is the part of an OpenAPI 3.1 document the drift test reads.
type openAPIDoc struct {
	Paths      map[string]map[string]openAPIOperation `json:"paths"`
	Components struct {
		Schemas map[string]*jsonSchema `json:"schemas"`
	} `json:"components"`
}

type openAPIOperation struct {
	OperationID string `json:"operationId"`
	Parameters  []struct {
		Name string `json:"name"`
		In   string `json:"in"`
	} `json:"parameters"`
	RequestBody *struct {
		Content map[string]struct {
			Schema *jsonSchema `json:"schema"`
		} `json:"content"`
	} `json:"requestBody"`
	Responses map[string]struct {
		Content map[string]struct {
			Schema *jsonSchema `json:"schema"`
		} `json:"content"`
	} `json:"responses"`
}

type jsonSchema struct {
	Ref                  string                 `json:"$ref"`
	Properties           map[string]*jsonSchema `json:"properties"`
	Items                *jsonSchema            `json:"items"`
	AdditionalProperties json.RawMessage        `json:"additionalProperties"`
}

// TestClientMatchesOpenAPI fails when the API served by promptd and this package drift
// apart: an operation without a client method, a query or header parameter the client
// cannot send, or a request or response field one side has and the other has not (nested
// objects included).
func TestClientMatchesOpenAPI(t *testing.T) {
	t.Parallel()
	base := startPromptd(t)
	resp, err := http.Get(base + "/api/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc openAPIDoc
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatalf("decoding /api/openapi.json: %v", err)
	}
	clientType := reflect.TypeFor[*Client]()
	seen := map[string]bool{}
	for path, item := range doc.Paths {
		for verb, op := range item {
			where := strings.ToUpper(verb) + " " + path + " (" + op.OperationID + ")"
			seen[op.OperationID] = true
			want, ok := apiOperations[op.OperationID]
			if !ok {
				t.Errorf("%s has no client method: add one and list it in apiOperations", where)
				continue
			}
			if _, ok := clientType.MethodByName(want.method); !ok {
				t.Errorf("%s: the client has no method %s", where, want.method)
			}
			var query, header []string
			for _, p := range op.Parameters {
				switch p.In {
				case "query":
					query = append(query, p.Name)
				case "header":
					header = append(header, p.Name)
				}
			}
			if got := tagged(want.query, "query"); !sameSet(got, query) {
				t.Errorf("%s: query parameters %v, the client sends %v", where, sorted(query), sorted(got))
			}
			if got := tagged(want.body, "header"); !sameSet(got, header) {
				t.Errorf("%s: header parameters %v, the client sends %v", where, sorted(header), sorted(got))
			}
			var reqSchema *jsonSchema
			if op.RequestBody != nil {
				reqSchema = op.RequestBody.Content["application/json"].Schema
			}
			if (reqSchema == nil) != (want.body == nil) {
				t.Errorf("%s: request body schema %v, client body type %T", where, reqSchema != nil, want.body)
			} else if reqSchema != nil {
				compareSchema(t, &doc, where+" request", reqSchema, reflect.TypeOf(want.body))
			}
			var respSchema *jsonSchema
			for status, r := range op.Responses {
				if strings.HasPrefix(status, "2") && r.Content["application/json"].Schema != nil {
					respSchema = r.Content["application/json"].Schema
				}
			}
			if (respSchema == nil) != (want.response == nil) {
				t.Errorf("%s: response schema %v, client response type %T", where, respSchema != nil, want.response)
			} else if respSchema != nil {
				compareSchema(t, &doc, where+" response", respSchema, reflect.TypeOf(want.response))
			}
		}
	}
	for id := range apiOperations {
		if !seen[id] {
			t.Errorf("apiOperations lists %s, which the API no longer has", id)
		}
	}
}

// compareSchema checks that the JSON fields of typ are exactly the schema's properties,
// recursing into nested objects, arrays and maps.
func compareSchema(t *testing.T, doc *openAPIDoc, where string, s *jsonSchema, typ reflect.Type) {
	t.Helper()
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	for s != nil && s.Ref != "" {
		name := strings.TrimPrefix(s.Ref, "#/components/schemas/")
		where += " → " + name
		s = doc.Components.Schemas[name]
	}
	if s == nil {
		t.Errorf("%s: the schema is missing", where)
		return
	}
	switch {
	case typ == reflect.TypeFor[json.RawMessage]() || typ == reflect.TypeFor[time.Time]() || typ.Kind() == reflect.Interface:
		return
	case typ.Kind() == reflect.Struct:
		fields := jsonFields(typ)
		var names []string
		for n := range fields {
			names = append(names, n)
		}
		var props []string
		for p := range s.Properties {
			props = append(props, p)
		}
		for _, p := range props {
			if _, ok := fields[p]; !ok {
				t.Errorf("%s: property %q is not in the client's %v", where, p, typ)
			}
		}
		for _, n := range names {
			if _, ok := s.Properties[n]; !ok {
				t.Errorf("%s: the client's %v has %q, which the API does not", where, typ, n)
			}
		}
		for p, ps := range s.Properties {
			if ft, ok := fields[p]; ok {
				compareSchema(t, doc, where+"."+p, ps, ft)
			}
		}
	case typ.Kind() == reflect.Slice || typ.Kind() == reflect.Array:
		if s.Items != nil {
			compareSchema(t, doc, where+"[]", s.Items, typ.Elem())
		}
	case typ.Kind() == reflect.Map:
		var inner jsonSchema
		if json.Unmarshal(s.AdditionalProperties, &inner) == nil {
			compareSchema(t, doc, where+"{}", &inner, typ.Elem())
		}
	}
}

// jsonFields maps the JSON names of a struct's fields (embedded structs flattened) to
// their types.
func jsonFields(typ reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for f := range typ.Fields() {
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" || !f.IsExported() && !f.Anonymous {
			continue
		}
		if f.Anonymous && name == "" {
			for n, ft := range jsonFields(f.Type) {
				out[n] = ft
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

// tagged lists the values of a struct's tag (nil for a nil value).
func tagged(v any, tag string) []string {
	if v == nil {
		return nil
	}
	var out []string
	for f := range reflect.TypeOf(v).Fields() {
		if n, ok := f.Tag.Lookup(tag); ok {
			out = append(out, n)
		}
	}
	return out
}

func sameSet(a, b []string) bool { return slices.Equal(sorted(a), sorted(b)) }

func sorted(s []string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	return s
}
