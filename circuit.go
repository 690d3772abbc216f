package promptd

import "time"

// CircuitState is the state of a webhook's circuit breaker in a delivery engine.
type CircuitState string

// The circuit states. While a webhook's circuit is open, its due deliveries are held (not
// sent) until OpenUntil; then one probe request decides whether it closes again.
const (
	CircuitClosed   CircuitState = "closed"    // requests flow
	CircuitOpen     CircuitState = "open"      // deliveries are held
	CircuitHalfOpen CircuitState = "half-open" // one probe request is allowed
)

// Circuit is what a delivery engine's circuit breaker says about one webhook. Breakers are
// per engine (per promptd instance): another instance may see the webhook differently.
type Circuit struct {
	State CircuitState `json:"state"`
	// OpenUntil is when an open circuit lets a probe through; zero unless State is open.
	OpenUntil time.Time `json:"openUntil,omitzero"`
}
