package main

import (
	"context"

	"github.com/promptd/promptd/internal/listen"
)

// listenCmd is `promptd listen`: a local receiver that verifies and prints deliveries.
type listenCmd struct {
	Secret   []string `name:"secret" env:"PROMPTD_LISTEN_SECRET" required:"" sep:"," help:"The webhook's signing secret (whsec_…); repeat it, or separate with commas, to accept an old and a new secret during a rotation."`
	Addr     string   `name:"addr" default:"127.0.0.1:9000" help:"Address to listen on."`
	FailRate float64  `name:"fail-rate" default:"0" help:"Fraction of deliveries (0 to 1) to answer with 500 on purpose, to watch promptd retry."`
	Forward  string   `name:"forward" help:"URL of your application: verified deliveries are re-sent there and answered with its response."`
}

func (c *listenCmd) Run(ctx context.Context, e *env) error {
	return listen.Run(ctx, listen.Config{
		Addr:     c.Addr,
		Secrets:  c.Secret,
		FailRate: c.FailRate,
		Forward:  c.Forward,
		Ready:    e.ready,
	}, e.stdout)
}
