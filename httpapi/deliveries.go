package httpapi

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/promptd/promptd"
)

// The delivery routes: the delivery log, readable by every key of the project, and resend
// (admin).
func (s *server) registerDeliveries() {
	register(s, huma.Operation{
		OperationID: "list-deliveries",
		Method:      http.MethodGet,
		Path:        "/api/v1/deliveries",
		Summary:     "List deliveries",
		Description: "Lists the project's deliveries, newest first, one page at a time, without their attempts.",
		Tags:        []string{tagDeliveries},
	}, viewer, s.listDeliveries)

	register(s, huma.Operation{
		OperationID: "get-delivery",
		Method:      http.MethodGet,
		Path:        "/api/v1/deliveries/{id}",
		Summary:     "Get a delivery",
		Description: "Returns one delivery with all its attempts, oldest first: the request headers sent (signature and custom header values masked), the receiver's status, headers and body (the first 16 KiB), the duration and any error.",
		Tags:        []string{tagDeliveries},
		Errors:      []int{http.StatusNotFound},
	}, viewer, s.getDelivery)

	register(s, huma.Operation{
		OperationID:   "resend-delivery",
		Method:        http.MethodPost,
		Path:          "/api/v1/deliveries/{id}/resend",
		Summary:       "Resend a delivery",
		Description:   "Sends the delivery's event again. A finished delivery (succeeded, failed, cancelled) gets a new delivery of the same event to the same webhook, due now — a new attempt series, which receivers see with the same event id (`webhook-id`) — linked both ways: the new one's `resendOf` is the original, whose `resentAs` lists it. A delivery still pending or being attempted is not duplicated (the receiver would get the event twice): it is brought forward instead — due now if it waits for a retry — and answered as it is, with its own id. Answers with the delivery that will carry the event.",
		Tags:          []string{tagDeliveries},
		DefaultStatus: http.StatusAccepted,
		Errors:        []int{http.StatusNotFound},
	}, admin, s.resendDelivery)
}

// deliveryStatus is a delivery status as a query parameter; its schema lists
// promptd.DeliveryStatuses.
type deliveryStatus string

// Schema declares the enum of delivery statuses.
func (deliveryStatus) Schema(huma.Registry) *huma.Schema {
	enum := make([]any, len(promptd.DeliveryStatuses))
	for i, st := range promptd.DeliveryStatuses {
		enum[i] = st
	}
	return &huma.Schema{Type: huma.TypeString, Enum: enum}
}

type listDeliveriesRequest struct {
	WebhookID string         `query:"webhookId" doc:"Only deliveries to this webhook"`
	EventID   string         `query:"eventId" doc:"Only deliveries of this event"`
	Status    deliveryStatus `query:"status" doc:"Only deliveries in this status"`
	Since     time.Time      `query:"since" doc:"Only deliveries created at or after this time (RFC 3339)"`
	Until     time.Time      `query:"until" doc:"Only deliveries created before this time (RFC 3339)"`
	Limit     int            `query:"limit" minimum:"1" maximum:"500" doc:"Page size; 50 when left out"`
	Cursor    string         `query:"cursor" doc:"The nextCursor of the previous page; leave out for the first page"`
}

type deliveryPageResponse struct {
	Body *promptd.Page[promptd.Delivery]
}

func (s *server) listDeliveries(ctx context.Context, in *listDeliveriesRequest) (*deliveryPageResponse, error) {
	key := keyFrom(ctx)
	f := promptd.DeliveryFilter{
		PageRequest: pageRequest(in.Limit, in.Cursor),
		WebhookID:   in.WebhookID,
		EventID:     in.EventID,
		Status:      string(in.Status),
		Since:       in.Since,
		Until:       in.Until,
	}
	if err := f.Normalize(); err != nil {
		return nil, err
	}
	// The schema's enum refuses other statuses already; this keeps the check should the
	// parameter's schema change.
	if f.Status != "" && !slices.Contains(promptd.DeliveryStatuses, f.Status) {
		return nil, promptd.Invalid("query.status", "must be one of %v, got %q", promptd.DeliveryStatuses, f.Status)
	}
	page, err := s.deliveries.ListDeliveries(ctx, key.ProjectID, f)
	if err != nil {
		return nil, err
	}
	return &deliveryPageResponse{Body: nonNilItems(page)}, nil
}

// deliveryIDRequest addresses one delivery.
type deliveryIDRequest struct {
	ID string `path:"id" doc:"The delivery's id"`
}

type deliveryResponse struct {
	Body *promptd.Delivery
}

func (s *server) getDelivery(ctx context.Context, in *deliveryIDRequest) (*deliveryResponse, error) {
	key := keyFrom(ctx)
	d, err := s.deliveries.FindDelivery(ctx, key.ProjectID, in.ID)
	if err != nil {
		return nil, err
	}
	return &deliveryResponse{Body: d}, nil
}

type resentDeliveryResponse struct {
	Location string `header:"Location" doc:"The URL of the delivery that will carry the event: the new one, or the original brought forward"`
	Body     *promptd.Delivery
}

func (s *server) resendDelivery(ctx context.Context, in *deliveryIDRequest) (*resentDeliveryResponse, error) {
	key := keyFrom(ctx)
	d, err := s.deliveries.ResendDelivery(ctx, key.ProjectID, in.ID)
	if err != nil {
		return nil, err
	}
	if d.ID == in.ID {
		s.logger.InfoContext(ctx, "delivery brought forward instead of resent (still pending)", "delivery", d.ID, "webhook", d.WebhookID, "status", d.Status)
	} else {
		s.logger.InfoContext(ctx, "delivery resent", "delivery", d.ID, "resend_of", in.ID, "webhook", d.WebhookID, "event", d.EventID)
	}
	return &resentDeliveryResponse{Location: "/api/v1/deliveries/" + url.PathEscape(d.ID), Body: d}, nil
}
