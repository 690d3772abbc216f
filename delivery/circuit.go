package delivery

import (
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/promptd/promptd"
)

// Circuit reports the state of the webhook's circuit breaker in this engine: closed for a
// webhook the engine has not sent to yet. An open circuit holds the webhook's due
// deliveries until OpenUntil (its opening plus Config.BreakerTimeout).
func (e *Engine) Circuit(webhookID string) promptd.Circuit {
	e.mu.Lock()
	h := e.hooks[webhookID]
	e.mu.Unlock()
	if h == nil {
		return promptd.Circuit{State: promptd.CircuitClosed}
	}
	switch h.breaker.State() {
	case gobreaker.StateOpen:
		c := promptd.Circuit{State: promptd.CircuitOpen}
		if at := h.openedAt.Load(); at != 0 {
			c.OpenUntil = time.Unix(0, at).Add(e.cfg.BreakerTimeout)
		}
		return c
	case gobreaker.StateHalfOpen:
		return promptd.Circuit{State: promptd.CircuitHalfOpen}
	default:
		return promptd.Circuit{State: promptd.CircuitClosed}
	}
}
