package httpapi

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/promptd/promptd"
)

// healthStatus is the body of the health probes.
type healthStatus struct {
	Status  string `json:"status" example:"ok" doc:"Always ok when the probe succeeds"`
	Version string `json:"version" doc:"The promptd version serving the request"`
}

type healthResponse struct {
	Body *healthStatus
}

func (s *server) registerHealth() {
	register(s, huma.Operation{
		OperationID: "healthz",
		Method:      http.MethodGet,
		Path:        "/healthz",
		Summary:     "Liveness probe",
		Description: "Answers 200 as long as the process serves requests; it does not touch the store.",
		Tags:        []string{tagHealth},
	}, public, s.healthz)

	register(s, huma.Operation{
		OperationID: "readyz",
		Method:      http.MethodGet,
		Path:        "/readyz",
		Summary:     "Readiness probe",
		Description: "Answers 200 when the store is reachable and writes work, 503 (with `Retry-After`) otherwise: " +
			"while the database cannot be reached, and after a write failed because the database could not be reached or was full, " +
			"until a write succeeds again (the probe itself tries a small write then). It recovers by itself.",
		Tags:   []string{tagHealth},
		Errors: []int{http.StatusServiceUnavailable},
	}, public, s.readyz)
}

func (s *server) healthz(context.Context, *struct{}) (*healthResponse, error) {
	return &healthResponse{Body: &healthStatus{Status: "ok", Version: s.version}}, nil
}

func (s *server) readyz(ctx context.Context, _ *struct{}) (*healthResponse, error) {
	if err := s.store.Ping(ctx); err != nil {
		msg := "the store is not reachable"
		if k := promptd.ErrorKind(err); k == promptd.EUNAVAILABLE || k == promptd.EFULL {
			msg = promptd.ErrorMessage(err)
		}
		// Not ready is 503 whatever the cause: load balancers and orchestrators act on it.
		return nil, &promptd.Error{Kind: promptd.EUNAVAILABLE, Message: msg, Err: err}
	}
	return &healthResponse{Body: &healthStatus{Status: "ok", Version: s.version}}, nil
}
